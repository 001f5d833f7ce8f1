#include "api/routes.h"

namespace gatehouse {
namespace {

Result<boost::json::value> Validate(ApiServices& services, const HttpRequest& request,
                                    const PathParams&) {
  auto caller = Authenticate(request, services);
  if (!caller) return std::unexpected(caller.error());
  const CachedToken& token = *caller->token;
  boost::json::object body{
      {"organizationId", token.organization_id},
      {"organizationName", services.cache.NameOf(token.organization_id)},
      {"projectId", nullptr},
      {"projectName", nullptr},
      {"apiTokenId", token.id},
      {"apiTokenName", token.name},
      {"scope", ToString(token.scope)},
      {"status", ToString(token.status)},
  };
  if (!token.project_id.empty()) {
    body["projectId"] = token.project_id;
    body["projectName"] = services.cache.NameOf(token.project_id);
  }
  return body;
}

}  // namespace

void AddAccessControlRoutes(Router& router, ApiServices& services) {
  router.Add("GET", "/v1/accessControl/apitoken/validate", JsonRoute(services, Validate));
}

}  // namespace gatehouse
