#include <spdlog/spdlog.h>

#include <algorithm>

#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"

namespace gatehouse {
namespace {

constexpr int kSessionSeconds = static_cast<int>(kConsoleSessionLifetimeMs / 1000);

std::string CookieHeader(const HttpRequest& request, std::string_view value, int max_age) {
  std::string cookie = std::string(kSessionCookie) + "=" + std::string(value) +
                       "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age);
  // Served over TLS (by this server, or by a TLS-terminating proxy in front of it), the browser
  // must only send the cookie over TLS.
  if (request.secure || EqualsIgnoreCase(request.Header("X-Forwarded-Proto"), "https")) {
    cookie += "; Secure";
  }
  return cookie;
}

boost::json::object SessionJson(ApiServices& services, const CachedToken& token,
                                const std::string& csrf_token) {
  return boost::json::object{
      {"csrfToken", csrf_token},
      {"organizationId", token.organization_id()},
      {"organizationName", services.cache.NameOf(token.organization_id())},
      {"apiTokenId", token.id()},
      {"apiTokenName", token.name()},
  };
}

// Signing in is public: the organization secret in the body is the credential. Failed
// sign-ins count toward the throttle of the client's address.
void OpenSession(ApiServices& services, const ApiCall& call, HttpResponse& response) {
  auto body = ParseJsonBody(call.request);
  if (!body) return WriteError(response, body.error());
  BodyReader reader(*body);
  auto secret = reader.Text("apiToken", 256, true);
  if (auto valid = reader.Finish(); !valid) return WriteError(response, valid.error());
  auto signed_in = services.authenticator.SignIn(*secret, call.request.remote_address);
  if (!signed_in) {
    WriteError(response, signed_in.error());
    if (signed_in.error().code() == ErrorCode::kRateLimited) {
      const std::int64_t seconds =
          services.authenticator.SignInRetryAfterSeconds(call.request.remote_address);
      response.headers.emplace_back("Retry-After",
                                    std::to_string(std::max<std::int64_t>(1, seconds)));
    }
    return;
  }
  WriteJson(response, 200, SessionJson(services, *signed_in->token, signed_in->session.csrf_token));
  response.headers.emplace_back("Set-Cookie",
                                CookieHeader(call.request, signed_in->cookie, kSessionSeconds));
  response.headers.emplace_back("Cache-Control", "no-store");
}

void CurrentSession(ApiServices& services, const ApiCall& call, HttpResponse& response) {
  WriteJson(response, 200,
            SessionJson(services, *call.caller.token, call.caller.session->csrf_token));
  response.headers.emplace_back("Cache-Control", "no-store");
}

// Signing out changes state too: the route requires the session and its CSRF token. The
// session is refused on this node before the store write; a failed write is retried by the
// maintenance sync, so the answer is the same.
void CloseSession(ApiServices& services, const ApiCall& call, HttpResponse& response) {
  if (auto signed_out = services.sign_outs.SignOut(*call.caller.session); !signed_out) {
    spdlog::error("console sign-out not stored yet (retried by the next sync): {}",
                  signed_out.error().internal);
  }
  WriteJson(response, 200,
            boost::json::object{{"messages", SuccessMessages("Signed out successfully")}});
  response.headers.emplace_back("Set-Cookie", CookieHeader(call.request, "", 0));
}

}  // namespace

void AddConsoleRoutes(RouteTable& routes) {
  routes.Add("POST", "/v2/console/session", Access::kPublic, OpenSession, SessionUse::kAllowed,
             Work::kInMemory);
  routes.Add("GET", "/v2/console/session", Access::kConsoleSession, CurrentSession,
             SessionUse::kAllowed, Work::kInMemory);
  routes.Add("DELETE", "/v2/console/session", Access::kConsoleSession, CloseSession,
             SessionUse::kAllowed, Work::kStore);
}

}  // namespace gatehouse
