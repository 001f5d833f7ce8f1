#include <boost/json/array.hpp>

#include "api/request_input.h"
#include "api/routes.h"

namespace gatehouse {
namespace {

Result<boost::json::value> ListAudit(ApiServices& services, const ApiCall& call) {
  const QueryParams params(call.request.query);
  auto paging = ReadPage(params);
  if (!paging) return std::unexpected(paging.error());
  auto page =
      services.audit.List(call.caller.organization_id(), paging->offset(), paging->page_size);
  if (!page) return std::unexpected(page.error());
  boost::json::array events;
  for (const auto& event : page->events) {
    const AuditEntry& entry = event.entry;
    events.push_back(boost::json::object{
        {"id", entry.id},
        {"timestamp", FormatTimestamp(entry.at)},
        {"action", entry.action},
        {"actor", event.actor},
        {"actorTokenId", entry.actor_token_id},
        {"target", event.target},
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

void AddAuditRoutes(RouteTable& routes) {
  routes.AddJson("GET", "/v2/audit", Access::kOrganization, ListAudit);
}

}  // namespace gatehouse
