#include "api/routes.h"

namespace gatehouse {
namespace {

Result<boost::json::value> Validate(ApiServices& services, const ApiCall& call) {
  const CachedToken& token = *call.caller.token;
  boost::json::object body{
      {"organizationId", token.organization_id()},
      {"organizationName", services.cache.NameOf(token.organization_id())},
      {"projectId", nullptr},
      {"projectName", nullptr},
      {"apiTokenId", token.id()},
      {"apiTokenName", token.name()},
      {"scope", ToString(token.scope)},
      {"status", ToString(token.status)},
  };
  if (!token.project_id().empty()) {
    body["projectId"] = token.project_id();
    body["projectName"] = services.cache.NameOf(token.project_id());
  }
  return body;
}

}  // namespace

void AddAccessControlRoutes(RouteTable& routes) {
  routes.AddJson("GET", "/v1/accessControl/apitoken/validate", Access::kAnyToken, Validate,
                 SessionUse::kAllowed, Work::kInMemory);
}

}  // namespace gatehouse
