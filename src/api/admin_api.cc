#include <boost/json/array.hpp>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"
#include "core/url.h"

namespace gatehouse {
namespace {

Result<boost::json::value> CreateOrganization(ApiServices& services, const ApiCall& call) {
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto name = reader.Text("name", kMaxNameLength, true);
  auto email = reader.Email("administratorUserEmail");
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  auto created = services.organizations.Create(*name, email.value_or(""), ActorOf(call));
  if (!created) return std::unexpected(created.error());
  boost::json::object token = TokenJson(created->token.token);
  token["secret"] = created->token.secret;
  return boost::json::object{{"organizationId", created->organization.id},
                             {"organizationName", created->organization.name},
                             {"apiToken", std::move(token)}};
}

Result<boost::json::value> ListOrganizations(ApiServices& services, const ApiCall& call) {
  const QueryParams params(call.request.query);
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

// The organization's own limit webhook (API.md §7, §11): {"limitWebhookUrl": "http…" | ""}.
Result<boost::json::value> GetWebhook(ApiServices& services, const ApiCall& call) {
  auto organization = services.organizations.Resolve(call.params[0]);
  if (!organization) return std::unexpected(organization.error());
  auto url = services.organizations.Webhook(organization->id);
  if (!url) return std::unexpected(url.error());
  return boost::json::object{{"organizationId", organization->id}, {"limitWebhookUrl", *url}};
}

Result<boost::json::value> PutWebhook(ApiServices& services, const ApiCall& call) {
  auto organization = services.organizations.Resolve(call.params[0]);
  if (!organization) return std::unexpected(organization.error());
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto url = reader.Text("limitWebhookUrl", 2000, false);
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  const std::string value = url.value_or("");
  if (!value.empty() && !ParseUrl(value)) {
    return Fail(ErrorCode::kPattern, "limitWebhookUrl");
  }
  if (auto set = services.organizations.SetWebhook(organization->id, value, ActorOf(call)); !set) {
    return std::unexpected(set.error());
  }
  return boost::json::object{{"organizationId", organization->id}, {"limitWebhookUrl", value}};
}

Result<boost::json::value> DeleteOrganization(ApiServices& services, const ApiCall& call) {
  if (auto deleted = services.organizations.Delete(call.params[0], ActorOf(call)); !deleted) {
    return std::unexpected(deleted.error());
  }
  return boost::json::object{{"messages", SuccessMessages("Organization deleted successfully")}};
}

}  // namespace

void AddAdminRoutes(RouteTable& routes) {
  // Only the system administrator credential opens /v2/admin (API.md §9).
  constexpr auto kAdmin = Access::kSystemAdmin;
  constexpr auto kNoSession = SessionUse::kRefused;
  routes.AddJson("POST", "/v2/admin/organizations", kAdmin, CreateOrganization, kNoSession);
  routes.AddJson("GET", "/v2/admin/organizations", kAdmin, ListOrganizations, kNoSession);
  routes.AddJson("DELETE", "/v2/admin/organizations/{id}", kAdmin, DeleteOrganization, kNoSession);
  routes.AddJson("GET", "/v2/admin/organizations/{id}/webhook", kAdmin, GetWebhook, kNoSession);
  routes.AddJson("PUT", "/v2/admin/organizations/{id}/webhook", kAdmin, PutWebhook, kNoSession);
}

}  // namespace gatehouse
