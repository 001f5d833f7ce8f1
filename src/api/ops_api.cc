#include <boost/json/object.hpp>

#include "api/routes.h"

namespace gatehouse {

void AddOpsRoutes(Router& router, ApiServices& services) {
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
