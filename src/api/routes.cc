#include "api/routes.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

#include "api/openapi.h"

namespace gatehouse {

void AddApiRoutes(RouteTable& routes) {
  AddOpsRoutes(routes);
  AddAccessControlRoutes(routes);
  AddOrganizationRoutes(routes);
  AddTokenRoutes(routes);
  AddLeakReportRoutes(routes);
  AddAdminRoutes(routes);
  AddConsoleRoutes(routes);
  AddAssistantRoutes(routes);
  AddChatRoutes(routes);
  AddOpenAiRoutes(routes);
  AddExportRoutes(routes);
  AddAuditRoutes(routes);
  AddUsageLimitRoutes(routes);
  AddOpenApiRoute(routes);
}

namespace {

void Dispatch(const Router& router, ApiServices& services, const HttpRequest& request,
              HttpResponse& response, std::string_view& route) {
  try {
    auto match = router.Find(request.method, request.path);
    switch (match.kind) {
      case Router::Match::Kind::kFound:
        route = *match.pattern;
        (*match.handler)(request, match.params, response);
        return;
      case Router::Match::Kind::kWrongMethod:
        response.headers.emplace_back("Allow", match.allow);
        WriteError(response, Error(ErrorCode::kMethodNotAllowed));
        return;
      case Router::Match::Kind::kNoRoute:
        if ((request.method == "GET" || request.method == "HEAD") &&
            ServeStaticFile(services.web_dir, PercentDecode(request.path, false), response)) {
          route = "static";
          return;
        }
        WriteError(response, Error(ErrorCode::kBadEndpoint));
        return;
    }
  } catch (const std::exception& error) {
    response = HttpResponse();
    WriteError(response, Error(ErrorCode::kInternal, {}, error.what()));
  }
}

}  // namespace

HttpHandler MakeApiHandler(const RouteTable& routes) {
  return [&router = routes.router(), &services = routes.services()](const HttpRequest& request,
                                                                    HttpResponse& response) {
    const auto started = std::chrono::steady_clock::now();
    std::string_view route = "unmatched";
    Dispatch(router, services, request, response, route);
    if (response.async) {
      // Asynchronous work (upstream calls) is measured to its end on the event loop.
      response.async = [&services, method = request.method, route, started,
                        work = std::move(response.async)](HttpResponse& response,
                                                          std::function<void()> done) {
        work(response, [&services, &response, method, route, started, done = std::move(done)] {
          services.metrics.RecordRequest(method, route, response.status,
                                         std::chrono::steady_clock::now() - started);
          done();
        });
      };
      return;
    }
    if (!response.deferred) {
      services.metrics.RecordRequest(request.method, route, response.status,
                                     std::chrono::steady_clock::now() - started);
      return;
    }
    // Work finished on the blocking pool is measured to its end, and kept from escaping.
    response.deferred = [&services, method = request.method, route, started,
                         work = std::move(response.deferred)](HttpResponse& response) {
      try {
        work(response);
      } catch (const std::exception& error) {
        response = HttpResponse();
        WriteError(response, Error(ErrorCode::kInternal, {}, error.what()));
      }
      services.metrics.RecordRequest(method, route, response.status,
                                     std::chrono::steady_clock::now() - started);
    };
  };
}

void WriteTransportError(int status, HttpResponse& response) {
  WriteError(response,
             Error(status == 413 ? ErrorCode::kPayloadTooLarge : ErrorCode::kBadInputText));
}

}  // namespace gatehouse
