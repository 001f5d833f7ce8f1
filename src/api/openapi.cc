#include "api/openapi.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <memory>
#include <sstream>

namespace gatehouse {
namespace {

boost::json::array SecurityOf(const RouteSpec& route) {
  auto scheme = [](std::string_view name) {
    return boost::json::object{{name, boost::json::array()}};
  };
  boost::json::array security;
  switch (route.access) {
    case Access::kPublic:
      break;
    case Access::kSystemAdmin:
      security.push_back(scheme("admin"));
      break;
    case Access::kConsoleSession:
      security.push_back(scheme("consoleSession"));
      break;
    case Access::kMetrics:
      // Public unless `[server] metrics_token` is set: either way is a valid call.
      security.push_back(boost::json::object{});
      security.push_back(scheme("bearer"));
      break;
    case Access::kAnyToken:
    case Access::kOrganization:
    case Access::kProject:
      security.push_back(scheme("bearer"));
      security.push_back(scheme("basic"));
      // A session acts as an organization token: useless where a project token is required.
      if (route.sessions == SessionUse::kAllowed && route.access != Access::kProject) {
        security.push_back(scheme("consoleSession"));
      }
      break;
  }
  return security;
}

std::string Lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

std::string_view AccessName(Access access) {
  switch (access) {
    case Access::kPublic:
      return "public";
    case Access::kAnyToken:
      return "any token";
    case Access::kOrganization:
      return "organization";
    case Access::kProject:
      return "project";
    case Access::kSystemAdmin:
      return "system administrator";
    case Access::kConsoleSession:
      return "console session";
    case Access::kMetrics:
      return "metrics token when configured";
  }
  return "public";
}

std::string BuildOpenApi(const std::vector<RouteSpec>& routes, std::string_view descriptions) {
  boost::json::object document;
  boost::system::error_code ignored;
  if (auto parsed = boost::json::parse(descriptions, ignored); !ignored && parsed.is_object()) {
    document = std::move(parsed.as_object());
  }
  if (!document.contains("openapi")) {
    document["openapi"] = "3.0.3";
    document["info"] = boost::json::object{{"title", "Gatehouse"}, {"version", "1"}};
  }
  boost::json::object described;
  if (auto* paths = document.if_contains("paths"); paths && paths->is_object()) {
    described = std::move(paths->as_object());
  }
  boost::json::object paths;
  for (const auto& route : routes) {
    const std::string method = Lower(route.method);
    boost::json::object operation;
    if (auto* item = described.if_contains(route.pattern); item && item->is_object()) {
      if (auto* known = item->as_object().if_contains(method); known && known->is_object()) {
        operation = known->as_object();
      }
    }
    if (operation.empty()) {
      operation["summary"] = route.method + " " + route.pattern;
      operation["responses"] = boost::json::object{{"200", {{"description", "OK"}}}};
    }
    operation["security"] = SecurityOf(route);
    operation["x-gatehouse-access"] = AccessName(route.access);
    boost::json::value& item = paths[route.pattern];
    if (!item.is_object()) item = boost::json::object();
    item.as_object()[method] = std::move(operation);
  }
  document["paths"] = std::move(paths);
  return boost::json::serialize(document);
}

void AddOpenApiRoute(RouteTable& routes) {
  std::string descriptions;
  if (std::ifstream file(routes.services().web_dir + "/openapi.json"); file) {
    std::stringstream text;
    text << file.rdbuf();
    descriptions = text.str();
  }
  // Registered before the document is built, so that it describes itself too.
  auto document = std::make_shared<std::string>();
  routes.Add(
      "GET", "/openapi.json", Access::kPublic,
      [document](ApiServices&, const ApiCall&, HttpResponse& response) {
        response.status = 200;
        response.content_type = "application/json";
        response.body = *document;
      },
      SessionUse::kAllowed, Work::kInMemory);
  *document = BuildOpenApi(routes.routes(), descriptions);
}

}  // namespace gatehouse
