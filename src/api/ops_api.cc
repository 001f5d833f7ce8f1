#include <boost/json/object.hpp>

#include "api/routes.h"

namespace gatehouse {

namespace {

// Serves one file of the built console, or 404 when the console was not built.
RouteHandler ConsoleFile(ApiServices& services, std::string file) {
  return [&services, file](const HttpRequest&, const PathParams&, HttpResponse& response) {
    if (!ServeStaticFile(services.web_dir, file, response)) {
      WriteError(response, Error(ErrorCode::kBadEndpoint, {}, "console not built: " + file));
    }
  };
}

}  // namespace

void AddOpsRoutes(Router& router, ApiServices& services) {
  router.Add("GET", "/", ConsoleFile(services, "/index.html"));
  router.Add("GET", "/openapi.json", ConsoleFile(services, "/openapi.json"));
  router.Add("GET", "/docs", ConsoleFile(services, "/docs.html"));
  router.Add("GET", "/metrics",
             [&services](const HttpRequest&, const PathParams&, HttpResponse& response) {
               response.status = 200;
               response.content_type = "text/plain; version=0.0.4; charset=utf-8";
               response.body = services.metrics.Render();
             });
  router.Add("GET", "/healthz", [](const HttpRequest&, const PathParams&, HttpResponse& response) {
    WriteJson(response, 200, boost::json::object{{"status", "ok"}});
  });
  router.Add("GET", "/readyz",
             [&services](const HttpRequest&, const PathParams&, HttpResponse& response) {
               const bool ready = services.store.Ping().has_value();
               WriteJson(response, ready ? 200 : 503,
                         boost::json::object{{"status", ready ? "ready" : "store unreachable"}});
             });
}

}  // namespace gatehouse
