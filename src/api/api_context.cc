#include "api/api_context.h"

#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>

#include "core/text.h"

namespace gatehouse {
namespace {

// The value of cookie `name` in a Cookie header, or empty.
std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto end = std::min(header.find(';'), header.size());
    std::string_view pair = Trim(header.substr(0, end));
    const auto equals = pair.find('=');
    if (equals != std::string_view::npos && Trim(pair.substr(0, equals)) == name) {
      return Trim(pair.substr(equals + 1));
    }
    header.remove_prefix(std::min(end + 1, header.size()));
  }
  return {};
}

}  // namespace

std::string SessionCookieOf(const HttpRequest& request) {
  return std::string(CookieValue(request.Header("Cookie"), kSessionCookie));
}

namespace {

bool ChangesState(const HttpRequest& request) {
  return request.method != "GET" && request.method != "HEAD" && request.method != "OPTIONS";
}

}  // namespace

namespace {

Result<Caller> Identify(const HttpRequest& request, ApiServices& services) {
  const TimeMs now = NowMs();
  if (const auto header = request.Header("Authorization"); !header.empty()) {
    auto secret = SecretFromAuthorization(header);
    if (!secret) return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "unreadable Authorization");
    auto token = services.authenticator.Authenticate(*secret, now);
    if (!token) return std::unexpected(token.error());
    return Caller{std::move(*token)};
  }
  const std::string cookie = SessionCookieOf(request);
  if (cookie.empty()) return Fail(ErrorCode::kApiKeyNotFound);
  auto session = services.sessions.Find(cookie, now);
  if (!session) return Fail(ErrorCode::kApiKeyNotFound, {}, "unknown or expired session");
  auto token = services.cache.FindById(session->token_id);
  if (!token || !token->UsableAt(now)) {
    return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "session token no longer usable");
  }
  if (ChangesState(request) &&
      !ConstantTimeEquals(request.Header("X-CSRF-Token"), session->csrf_token)) {
    return Fail(ErrorCode::kOutOfScope, {}, "missing or wrong X-CSRF-Token");
  }
  services.cache.MarkUsed(*token, now);
  return Caller{std::move(token)};
}

// Counts a refusal by reason for /metrics.
Result<Caller> Counted(Result<Caller> caller, Metrics& metrics) {
  if (!caller) {
    switch (caller.error().code()) {
      case ErrorCode::kApiKeyNotFound:
        metrics.RecordAuthFailure(Metrics::AuthFailure::kMissing);
        break;
      case ErrorCode::kOutOfScope:
        metrics.RecordAuthFailure(Metrics::AuthFailure::kOutOfScope);
        break;
      default:
        metrics.RecordAuthFailure(Metrics::AuthFailure::kInvalid);
    }
  }
  return caller;
}

}  // namespace

Result<Caller> Authenticate(const HttpRequest& request, ApiServices& services) {
  return Counted(Identify(request, services), services.metrics);
}

Result<Caller> AuthenticateProject(const HttpRequest& request, ApiServices& services) {
  auto caller = Identify(request, services);
  if (caller && caller->IsOrganization()) {
    caller = Fail(ErrorCode::kOutOfScope, {}, "project scope required");
  }
  return Counted(std::move(caller), services.metrics);
}

Result<Caller> AuthenticateOrganization(const HttpRequest& request, ApiServices& services) {
  auto caller = Identify(request, services);
  if (caller && !caller->IsOrganization()) {
    caller = Fail(ErrorCode::kOutOfScope, {}, "organization scope required");
  }
  return Counted(std::move(caller), services.metrics);
}

void WriteJson(HttpResponse& response, int status, const boost::json::value& body) {
  response.status = status;
  response.content_type = "application/json";
  response.body = boost::json::serialize(body);
}

void WriteError(HttpResponse& response, const Error& error) {
  const int status = HttpStatusOf(error.code());
  // Provider failures (502, 504) are logged where they happen, with the provider's name.
  if (error.code() == ErrorCode::kInternal) {
    spdlog::error("request failed: {}", error.internal.empty() ? "(no detail)" : error.internal);
  }
  boost::json::array items;
  for (const auto& item : error.items) {
    items.push_back(
        boost::json::object{{"id", ErrorIdOf(item.code)}, {"description", DescriptionOf(item)}});
  }
  WriteJson(response, status, boost::json::object{{"errors", std::move(items)}});
}

void Respond(HttpResponse& response, const Result<boost::json::value>& result) {
  if (result) {
    WriteJson(response, 200, *result);
  } else {
    WriteError(response, result.error());
  }
}

void Audit(ApiServices& services, const Caller& caller, std::string_view action,
           const std::string& target_id) {
  auto recorded = services.store.AppendAudit(AuditEntry{
      0, caller.organization_id(), caller.token->id, std::string(action), target_id, NowMs()});
  if (!recorded) spdlog::error("audit {} failed: {}", action, recorded.error().internal);
}

boost::json::array SuccessMessages(std::string_view text) {
  return boost::json::array{
      boost::json::object{{"id", 0}, {"description", text}, {"type", "Success"}}};
}

}  // namespace gatehouse
