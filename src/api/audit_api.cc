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
  auto paging = ReadPage(params);
  if (!paging) return std::unexpected(paging.error());
  auto page =
      services.store.ListAudit(caller->organization_id(), paging->offset(), paging->page_size);
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
                             {"pages", paging->PagesFor(page->count)},
                             {"startPage", paging->start_page},
                             {"pageSize", paging->page_size},
                             {"events", std::move(events)}};
}

}  // namespace

void AddAuditRoutes(Router& router, ApiServices& services) {
  router.Add("GET", "/v2/audit", JsonRoute(services, ListAudit));
}

}  // namespace gatehouse
