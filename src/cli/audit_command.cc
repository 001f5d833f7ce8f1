#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <iostream>
#include <stdexcept>

#include "api/render.h"
#include "app/instance.h"
#include "cli/commands.h"

namespace gatehouse {
namespace {

std::optional<TimeMs> DateOption(const std::string& text, const char* name, bool end_of_day) {
  if (text.empty()) return std::nullopt;
  const auto at = ParseTimestamp(text);
  if (!at) throw std::runtime_error(std::string(name) + " must be a date or a timestamp");
  return end_of_day && text.size() == 10 ? *at + 86400000 - 1 : *at;
}

}  // namespace

int RunAudit(const ServerConfig& config, const AuditOptions& options, bool json) {
  const SystemClock clock;
  Instance instance(config, clock);
  std::string organization_id;
  if (options.organization.empty()) {
    auto page = OrThrow(instance.organizations().List(OrganizationQuery{{}, false, 0, 2}));
    if (page.count != 1) {
      organization_id =
          OrThrow(instance.organizations().Resolve(std::string(kDefaultOrganizationName))).id;
    } else {
      organization_id = page.organizations.front().id;
    }
  } else {
    organization_id = OrThrow(instance.organizations().Resolve(options.organization)).id;
  }
  AuditQuery query;
  query.organization_id = organization_id;
  query.action = options.action;
  query.target_id = options.target_id;
  query.actor_token_id = options.actor_token_id;
  query.start_ms = DateOption(options.start_date, "--start-date", false);
  query.end_ms = DateOption(options.end_date, "--end-date", true);
  query.limit = options.limit;
  const AuditEventPage page = OrThrow(instance.audit().List(query));
  if (json) {
    boost::json::array events;
    for (const auto& event : page.events) events.push_back(AuditEventJson(event));
    std::cout << boost::json::serialize(
                     boost::json::object{{"count", page.count}, {"events", std::move(events)}})
              << std::endl;
    return 0;
  }
  std::cout << "timestamp\taction\tactor\ttarget\tdetails\n";
  for (const auto& event : page.events) {
    const AuditEntry& entry = event.entry;
    // Names and details are user text: escaped so that they cannot forge lines or columns.
    std::cout << FormatTimestamp(entry.at) << "\t" << Printable(entry.action) << "\t"
              << Printable(event.actor) << "\t" << Printable(event.target) << "\t"
              << Printable(entry.details.empty() ? "{}" : entry.details) << "\n";
  }
  return 0;
}

}  // namespace gatehouse
