#include "api/route_table.h"

#include "api/request_input.h"

namespace gatehouse {
namespace {

bool ChangesState(const HttpRequest& request) {
  return request.method != "GET" && request.method != "HEAD" && request.method != "OPTIONS";
}

// What counts for a route with `access`: an Authorization header wins over a cookie, whose
// header is then not read at all (the gateway's path), except on the console session's own
// routes, which read the cookie only.
Credentials CredentialsOf(const HttpRequest& request, Access access) {
  Credentials credentials;
  credentials.authorization = request.Header("Authorization");
  if (credentials.authorization.empty() || access == Access::kConsoleSession) {
    credentials.session_cookie = SessionCookieOf(request);
    credentials.csrf_token = request.Header("X-CSRF-Token");
    credentials.changes_state = ChangesState(request);
  }
  credentials.remote_address = request.remote_address;
  return credentials;
}

void CountFailure(Metrics& metrics, const Error& error) {
  switch (error.code()) {
    case ErrorCode::kApiKeyNotFound:
      metrics.RecordAuthFailure(Metrics::AuthFailure::kMissing);
      break;
    case ErrorCode::kOutOfScope:
    case ErrorCode::kAddressNotAllowed:
      metrics.RecordAuthFailure(Metrics::AuthFailure::kOutOfScope);
      break;
    default:
      metrics.RecordAuthFailure(Metrics::AuthFailure::kInvalid);
  }
}

}  // namespace

void RouteTable::Add(std::string_view method, std::string_view pattern, Access access,
                     ResponseHandler handler, SessionUse sessions, Work work,
                     RefusalHandler refused) {
  routes_.push_back(RouteSpec{std::string(method), std::string(pattern), access, sessions, work});
  router_.Add(method, pattern,
              [&services = services_, access, sessions, work, handler = std::move(handler),
               refused = std::move(refused)](const HttpRequest& request, const PathParams& params,
                                             HttpResponse& response) {
                Principal refused_caller;
                auto caller =
                    services.authenticator.Authorize(CredentialsOf(request, access), access,
                                                     sessions, refused ? &refused_caller : nullptr);
                if (!caller) {
                  CountFailure(services.metrics, caller.error());
                  if (refused && refused_caller.token) {
                    refused(services, ApiCall{request, params, refused_caller}, caller.error());
                  }
                  return WriteError(response, caller.error());
                }
                if (auto text = CheckQueryText(request.query); !text) {
                  // Refused after its caller was identified: a model call is recorded as such.
                  if (refused) refused(services, ApiCall{request, params, *caller}, text.error());
                  return WriteError(response, text.error());
                }
                if (work == Work::kInMemory) {
                  return handler(services, ApiCall{request, params, *caller}, response);
                }
                // The server keeps `request` alive until the deferred work has finished.
                response.deferred = [&services, &request, &handler, params,
                                     caller = std::move(*caller)](HttpResponse& response) {
                  handler(services, ApiCall{request, params, caller}, response);
                };
              });
}

void RouteTable::AddJson(std::string_view method, std::string_view pattern, Access access,
                         JsonHandler handler, SessionUse sessions, Work work) {
  Add(
      method, pattern, access,
      [handler = std::move(handler)](ApiServices& services, const ApiCall& call,
                                     HttpResponse& response) {
        Respond(response, handler(services, call));
      },
      sessions, work);
}

}  // namespace gatehouse
