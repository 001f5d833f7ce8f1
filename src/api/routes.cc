#include "api/routes.h"

#include <spdlog/spdlog.h>

#include <exception>

namespace gatehouse {

void AddApiRoutes(Router& router, ApiServices& services) {
  AddOpsRoutes(router, services);
  AddAccessControlRoutes(router, services);
  AddOrganizationRoutes(router, services);
  AddTokenRoutes(router, services);
  AddAdminRoutes(router, services);
  AddConsoleRoutes(router, services);
  AddAssistantRoutes(router, services);
  AddChatRoutes(router, services);
  AddExportRoutes(router, services);
  AddAuditRoutes(router, services);
}

HttpHandler MakeApiHandler(const Router& router, ApiServices& services) {
  return [&router, &services](const HttpRequest& request, HttpResponse& response) {
    try {
      auto match = router.Find(request.method, request.path);
      switch (match.kind) {
        case Router::Match::Kind::kFound:
          (*match.handler)(request, match.params, response);
          return;
        case Router::Match::Kind::kWrongMethod:
          response.headers.emplace_back("Allow", match.allow);
          WriteError(response, Error(ErrorCode::kMethodNotAllowed));
          return;
        case Router::Match::Kind::kNoRoute:
          if ((request.method == "GET" || request.method == "HEAD") &&
              ServeStaticFile(services.web_dir, request.path, response)) {
            return;
          }
          WriteError(response, Error(ErrorCode::kBadEndpoint));
          return;
      }
    } catch (const std::exception& error) {
      response = HttpResponse();
      WriteError(response, Error(ErrorCode::kInternal, {}, error.what()));
    }
  };
}

void WriteTransportError(int status, HttpResponse& response) {
  WriteError(response,
             Error(status == 413 ? ErrorCode::kPayloadTooLarge : ErrorCode::kBadInputText));
}

}  // namespace gatehouse
