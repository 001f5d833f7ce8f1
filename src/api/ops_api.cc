#include <boost/json/object.hpp>

#include "api/routes.h"

namespace gatehouse {
namespace {

// Serves one file of the built console, or 404 when the console was not built.
ResponseHandler ConsoleFile(std::string file) {
  return [file](ApiServices& services, const ApiCall&, HttpResponse& response) {
    if (!ServeStaticFile(services.web_dir, file, response)) {
      WriteError(response, Error(ErrorCode::kBadEndpoint, {}, "console not built: " + file));
    }
  };
}

void RenderMetrics(ApiServices& services, const ApiCall&, HttpResponse& response) {
  response.status = 200;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = services.metrics.Render();
}

void Healthz(ApiServices&, const ApiCall&, HttpResponse& response) {
  WriteJson(response, 200, boost::json::object{{"status", "ok"}});
}

void Readyz(ApiServices& services, const ApiCall&, HttpResponse& response) {
  const bool ready = services.store_ready();
  WriteJson(response, ready ? 200 : 503,
            boost::json::object{{"status", ready ? "ready" : "store unreachable"}});
}

}  // namespace

void AddOpsRoutes(RouteTable& routes) {
  routes.Add("GET", "/", Access::kPublic, ConsoleFile("/index.html"));
  routes.Add("GET", "/docs", Access::kPublic, ConsoleFile("/docs.html"));
  routes.Add("GET", "/metrics", Access::kMetrics, RenderMetrics, SessionUse::kAllowed,
             Work::kInMemory);
  routes.Add("GET", "/healthz", Access::kPublic, Healthz, SessionUse::kAllowed, Work::kInMemory);
  routes.Add("GET", "/readyz", Access::kPublic, Readyz);
}

}  // namespace gatehouse
