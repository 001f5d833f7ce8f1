#include <boost/json/array.hpp>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"

namespace gatehouse {
namespace {

Result<boost::json::value> ListAudit(ApiServices& services, const ApiCall& call) {
  const QueryParams params(call.request.query);
  auto paging = ReadPage(params);
  if (!paging) return std::unexpected(paging.error());
  AuditQuery query;
  query.organization_id = call.caller.organization_id();
  query.action = params.Get("action").value_or("");
  query.target_id = params.Get("targetId").value_or("");
  query.actor_token_id = params.Get("actorTokenId").value_or("");
  for (auto [name, out, whole_day] : {std::tuple{"startDate", &query.start_ms, false},
                                      std::tuple{"endDate", &query.end_ms, true}}) {
    const auto text = params.Get(name);
    if (!text || text->empty()) continue;
    const auto at = ParseTimestamp(*text);
    if (!at) return Fail(ErrorCode::kPattern, name);
    // A plain date as endDate includes that whole day.
    *out = whole_day && text->size() == 10 ? *at + 86400000 - 1 : *at;
  }
  query.offset = paging->offset();
  query.limit = paging->page_size;
  auto page = services.audit.List(query);
  if (!page) return std::unexpected(page.error());
  boost::json::array events;
  for (const auto& event : page->events) events.push_back(AuditEventJson(event));
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
