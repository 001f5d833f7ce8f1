#ifndef GATEHOUSE_API_API_CONTEXT_H_
#define GATEHOUSE_API_API_CONTEXT_H_

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "auth/authenticator.h"
#include "auth/console_sessions.h"
#include "core/clock.h"
#include "directory/assistant_directory.h"
#include "directory/audit_directory.h"
#include "directory/console_sign_outs.h"
#include "directory/leaked_secrets.h"
#include "directory/organization_directory.h"
#include "directory/project_directory.h"
#include "directory/token_directory.h"
#include "gateway/chat.h"
#include "gateway/providers.h"
#include "http/message.h"
#include "http/router.h"
#include "usage/export_slots.h"
#include "usage/metrics.h"
#include "usage/request_export.h"
#include "usage/request_log.h"
#include "usage/usage_limits.h"

namespace gatehouse {

// What the handlers work with: directories and services, never the store itself. Built by the
// composition root (app/), which keeps every referenced object alive longer than the server.
struct ApiServices {
  Authenticator& authenticator;
  const TokenCache& cache;  // organization and project names for responses
  ConsoleSessions& sessions;
  ConsoleSignOuts& sign_outs;  // DELETE /v2/console/session, on the blocking pool
  TokenDirectory& tokens;
  LeakedSecrets& leaked_secrets;  // POST /v2/tokens/leaked
  ProjectDirectory& projects;
  OrganizationDirectory& organizations;
  AssistantDirectory& assistants;
  AuditDirectory& audit;
  UsageLimits& usage_limits;
  const ProviderRegistry& providers;
  Gateway& gateway;  // runs chat and embeddings calls on the event loops
  RequestLog& request_log;
  RequestExporter& exports;
  ExportSlots& export_slots;  // bounds the exports streaming at once
  Metrics& metrics;
  const Clock& clock;
  std::function<bool()> store_ready;  // the /readyz probe
  bool log_content = true;            // false: request records keep no prompt, input or output
  std::string web_dir;                // the built console; empty = none
};

// One routed request, already authenticated as its route requires (api/route_table.h).
struct ApiCall {
  const HttpRequest& request;
  const PathParams& params;
  const Principal& caller;  // no token on public and administrator routes
};

// Who makes a change through `call`, for the audit trail: the calling token (also behind a
// console session) with the client's address; the system administrator is "(system)".
AuditActor ActorOf(const ApiCall& call);

inline constexpr std::string_view kSessionCookie = "gatehouse_session";

// The value of the console session cookie of `request`, or empty.
std::string_view SessionCookieOf(const HttpRequest& request);

void WriteJson(HttpResponse& response, int status, const boost::json::value& body);
// The API.md §2 envelope; the internal message goes to the log, never to the client.
void WriteError(HttpResponse& response, const Error& error);
// 200 with the value, or the error.
void Respond(HttpResponse& response, const Result<boost::json::value>& result);

// {"messages":[{"id":0,"description":text,"type":"Success"}]}
boost::json::array SuccessMessages(std::string_view text);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_API_CONTEXT_H_
