#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"

namespace gatehouse {
namespace {

constexpr int kSessionSeconds = static_cast<int>(kConsoleSessionLifetimeMs / 1000);

std::string CookieHeader(const HttpRequest& request, std::string_view value, int max_age) {
  std::string cookie = std::string(kSessionCookie) + "=" + std::string(value) +
                       "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age);
  // Behind a TLS-terminating proxy the browser must only send the cookie over TLS.
  if (EqualsIgnoreCase(request.Header("X-Forwarded-Proto"), "https")) cookie += "; Secure";
  return cookie;
}

boost::json::object SessionJson(ApiServices& services, const CachedToken& token,
                                const std::string& csrf_token) {
  return boost::json::object{
      {"csrfToken", csrf_token},
      {"organizationId", token.organization_id},
      {"organizationName", services.cache.NameOf(token.organization_id)},
      {"apiTokenId", token.id},
      {"apiTokenName", token.name},
  };
}

void OpenSession(ApiServices& services, const HttpRequest& request, HttpResponse& response) {
  auto body = ParseJsonBody(request);
  if (!body) return WriteError(response, body.error());
  BodyReader reader(*body);
  auto secret = reader.Text("apiToken", 256, true);
  if (auto valid = reader.Finish(); !valid) return WriteError(response, valid.error());
  auto token = services.authenticator.Authenticate(*secret, NowMs());
  if (!token) return WriteError(response, token.error());
  if ((*token)->scope != TokenScope::kOrganization) {
    return WriteError(response, Error(ErrorCode::kOutOfScope));
  }
  ConsoleSession session;
  const std::string cookie = services.sessions.Open((*token)->id, NowMs(), session);
  WriteJson(response, 200, SessionJson(services, **token, session.csrf_token));
  response.headers.emplace_back("Set-Cookie", CookieHeader(request, cookie, kSessionSeconds));
  response.headers.emplace_back("Cache-Control", "no-store");
}

void CurrentSession(ApiServices& services, const HttpRequest& request, HttpResponse& response) {
  const TimeMs now = NowMs();
  const auto session = services.sessions.Find(SessionCookieOf(request), now);
  if (!session) return WriteError(response, Error(ErrorCode::kApiKeyNotFound));
  auto token = services.cache.FindById(session->token_id);
  if (!token || !token->UsableAt(now)) {
    return WriteError(response, Error(ErrorCode::kTokenNotFoundOrBlocked));
  }
  WriteJson(response, 200, SessionJson(services, *token, session->csrf_token));
  response.headers.emplace_back("Cache-Control", "no-store");
}

void CloseSession(ApiServices& services, const HttpRequest& request, HttpResponse& response) {
  // Signing out changes state too: with a live session it needs the session's CSRF token.
  const std::string cookie = SessionCookieOf(request);
  if (auto session = services.sessions.Find(cookie, NowMs());
      session && !ConstantTimeEquals(request.Header("X-CSRF-Token"), session->csrf_token)) {
    return WriteError(response, Error(ErrorCode::kOutOfScope, {}, "missing X-CSRF-Token"));
  }
  services.sessions.Close(cookie);
  WriteJson(response, 200,
            boost::json::object{{"messages", SuccessMessages("Signed out successfully")}});
  response.headers.emplace_back("Set-Cookie", CookieHeader(request, "", 0));
}

}  // namespace

void AddConsoleRoutes(Router& router, ApiServices& services) {
  auto route = [&services](auto handler) {
    return [&services, handler](const HttpRequest& request, const PathParams&,
                                HttpResponse& response) { handler(services, request, response); };
  };
  router.Add("POST", "/v2/console/session", route(OpenSession));
  router.Add("GET", "/v2/console/session", route(CurrentSession));
  router.Add("DELETE", "/v2/console/session", route(CloseSession));
}

}  // namespace gatehouse
