#ifndef GATEHOUSE_API_API_CONTEXT_H_
#define GATEHOUSE_API_API_CONTEXT_H_

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <string>

#include "auth/authenticator.h"
#include "auth/console_sessions.h"
#include "directory/assistant_directory.h"
#include "directory/organization_directory.h"
#include "directory/project_directory.h"
#include "directory/token_directory.h"
#include "gateway/chat.h"
#include "gateway/providers.h"
#include "http/message.h"
#include "http/router.h"
#include "store/store.h"
#include "usage/metrics.h"
#include "usage/request_log.h"

namespace gatehouse {

// What the handlers work with. Owned by the serve command; outlives the HTTP server.
struct ApiServices {
  Store& store;
  TokenCache& cache;
  Authenticator& authenticator;
  TokenDirectory& tokens;
  ProjectDirectory& projects;
  OrganizationDirectory& organizations;
  ConsoleSessions& sessions;
  AssistantDirectory& assistants;
  const ProviderRegistry& providers;
  Gateway& gateway;
  RequestLog& request_log;
  Metrics& metrics;
  bool log_content = true;  // false: request records keep no prompt, input or output
  std::string web_dir;      // the built console; empty = none
};

inline constexpr std::string_view kSessionCookie = "gatehouse_session";

// The value of the console session cookie of `request`, or empty.
std::string SessionCookieOf(const HttpRequest& request);

// The token a request acts as, from its Authorization header or its console session cookie.
struct Caller {
  std::shared_ptr<const CachedToken> token;

  bool IsOrganization() const { return token->scope == TokenScope::kOrganization; }
  const std::string& organization_id() const { return token->organization_id; }
};

// 401 id 5 without credentials, 401 id 6 for a bad secret; a cookie-authenticated request that
// changes state without the session's X-CSRF-Token gets 403 id 7.
Result<Caller> Authenticate(const HttpRequest& request, ApiServices& services);
// As Authenticate, then 403 id 7 unless the caller is a project token.
Result<Caller> AuthenticateProject(const HttpRequest& request, ApiServices& services);
// As Authenticate, then 403 id 7 unless the caller is an organization token.
Result<Caller> AuthenticateOrganization(const HttpRequest& request, ApiServices& services);

void WriteJson(HttpResponse& response, int status, const boost::json::value& body);
// The API.md §2 envelope; the internal message goes to the log, never to the client.
void WriteError(HttpResponse& response, const Error& error);
// 200 with the value, or the error.
void Respond(HttpResponse& response, const Result<boost::json::value>& result);

// Adapts a handler `Result<boost::json::value> (ApiServices&, const HttpRequest&,
// const PathParams&)` to a route: 200 with its value, or its error.
template <typename Handler>
RouteHandler JsonRoute(ApiServices& services, Handler handler) {
  return [&services, handler](const HttpRequest& request, const PathParams& params,
                              HttpResponse& response) {
    Respond(response, handler(services, request, params));
  };
}

// Records in the audit log that `caller` did `action` to `target_id`. A failure to record is
// logged, not returned: the change itself has already been made.
void Audit(ApiServices& services, const Caller& caller, std::string_view action,
           const std::string& target_id);

// {"messages":[{"id":0,"description":text,"type":"Success"}]}
boost::json::array SuccessMessages(std::string_view text);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_API_CONTEXT_H_
