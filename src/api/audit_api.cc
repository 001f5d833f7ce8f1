#include <boost/json/array.hpp>

#include "api/request_input.h"
#include "api/routes.h"

namespace gatehouse {
namespace {

// A readable name for an id in the audit trail: a token's or project's name when known.
std::string NameFor(ApiServices& services, const std::string& id) {
  if (id.empty()) return {};
  if (auto token = services.cache.FindById(id)) return token->name;
  if (auto name = services.cache.NameOf(id); !name.empty()) return name;
  return id;
}

Result<boost::json::value> ListAudit(ApiServices& services, const HttpRequest& request,
                                     const PathParams&) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  const QueryParams params(request.query);
  auto start_page = params.Integer("startPage", 1, 1, INT32_MAX);
  if (!start_page) return std::unexpected(start_page.error());
  auto page_size = params.Integer("pageSize", 20, 1, 500);
  if (!page_size) return std::unexpected(page_size.error());
  auto page = services.store.ListAudit(caller->organization_id(), (*start_page - 1) * *page_size,
                                       *page_size);
  if (!page) return std::unexpected(page.error());
  boost::json::array events;
  for (const auto& entry : page->entries) {
    events.push_back(boost::json::object{
        {"id", entry.id},
        {"timestamp", FormatTimestamp(entry.at)},
        {"action", entry.action},
        {"actor", NameFor(services, entry.actor_token_id)},
        {"actorTokenId", entry.actor_token_id},
        {"target", NameFor(services, entry.target_id)},
        {"targetId", entry.target_id},
        {"details", ""},
    });
  }
  return boost::json::object{{"count", page->count},
                             {"pages", (page->count + *page_size - 1) / *page_size},
                             {"startPage", *start_page},
                             {"pageSize", *page_size},
                             {"events", std::move(events)}};
}

}  // namespace

void AddAuditRoutes(Router& router, ApiServices& services) {
  router.Add("GET", "/v2/audit", JsonRoute(services, ListAudit));
}

}  // namespace gatehouse
