#include <boost/json/array.hpp>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"

namespace gatehouse {
namespace {

// Only the system administrator credential opens /v2/admin (API.md §9): organization and
// project tokens are valid elsewhere but out of scope here.
Status AuthenticateAdmin(ApiServices& services, const HttpRequest& request) {
  const auto header = request.Header("Authorization");
  if (header.empty()) return Fail(ErrorCode::kApiKeyNotFound);
  const auto secret = SecretFromAuthorization(header);
  if (secret && services.authenticator.IsSystemAdmin(*secret)) return {};
  if (secret && services.authenticator.Authenticate(*secret, NowMs())) {
    return Fail(ErrorCode::kOutOfScope, {}, "not the system administrator");
  }
  return Fail(ErrorCode::kTokenNotFoundOrBlocked);
}

Result<boost::json::value> CreateOrganization(ApiServices& services, const HttpRequest& request,
                                              const PathParams&) {
  if (auto admin = AuthenticateAdmin(services, request); !admin) {
    return std::unexpected(admin.error());
  }
  auto body = ParseJsonBody(request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto name = reader.Text("name", kMaxNameLength, true);
  auto email = reader.Email("administratorUserEmail");
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  auto created = services.organizations.Create(*name, email.value_or(""));
  if (!created) return std::unexpected(created.error());
  boost::json::object token = TokenJson(created->token.token);
  token["secret"] = created->token.secret;
  return boost::json::object{{"organizationId", created->organization.id},
                             {"organizationName", created->organization.name},
                             {"apiToken", std::move(token)}};
}

Result<boost::json::value> ListOrganizations(ApiServices& services, const HttpRequest& request,
                                             const PathParams&) {
  if (auto admin = AuthenticateAdmin(services, request); !admin) {
    return std::unexpected(admin.error());
  }
  const QueryParams params(request.query);
  auto paging = ReadPage(params);
  if (!paging) return std::unexpected(paging.error());
  auto order_key = params.Choice("orderKey", {"name"}, 0);
  if (!order_key) return std::unexpected(order_key.error());
  auto direction = params.Choice("orderDirection", {"asc", "desc"}, 0);
  if (!direction) return std::unexpected(direction.error());
  auto filter_key = params.Choice("filterKey", {"name"}, 0);
  if (!filter_key) return std::unexpected(filter_key.error());

  OrganizationQuery query;
  query.name_contains = params.Get("filterValue").value_or("");
  query.descending = *direction == 1;
  query.limit = paging->page_size;
  query.offset = paging->offset();
  auto page = services.organizations.List(query);
  if (!page) return std::unexpected(page.error());
  boost::json::array organizations;
  for (const auto& organization : page->organizations) {
    organizations.push_back(boost::json::object{{"organizationId", organization.id},
                                                {"organizationName", organization.name}});
  }
  return boost::json::object{{"count", page->count},
                             {"pages", paging->PagesFor(page->count)},
                             {"organizations", std::move(organizations)}};
}

Result<boost::json::value> DeleteOrganization(ApiServices& services, const HttpRequest& request,
                                              const PathParams& params) {
  if (auto admin = AuthenticateAdmin(services, request); !admin) {
    return std::unexpected(admin.error());
  }
  if (auto deleted = services.organizations.Delete(params[0]); !deleted) {
    return std::unexpected(deleted.error());
  }
  return boost::json::object{{"messages", SuccessMessages("Organization deleted successfully")}};
}

}  // namespace

void AddAdminRoutes(Router& router, ApiServices& services) {
  router.Add("POST", "/v2/admin/organizations", JsonRoute(services, CreateOrganization));
  router.Add("GET", "/v2/admin/organizations", JsonRoute(services, ListOrganizations));
  router.Add("DELETE", "/v2/admin/organizations/{id}", JsonRoute(services, DeleteOrganization));
}

}  // namespace gatehouse
