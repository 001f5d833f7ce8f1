#include "usage/request_export.h"

#include <algorithm>
#include <map>

namespace gatehouse {

Status RequestExporter::Scope(const ExportScope& scope, std::string& project_id) {
  if (scope.project_id.empty()) {
    if (!project_id.empty()) {
      // A deleted project's records stay exportable (API.md §4), by its id too.
      auto known = store_.KnowsProject(scope.organization_id, project_id);
      if (!known) return std::unexpected(known.error());
      if (!*known) return Fail(ErrorCode::kProjectNotFound);
    }
  } else {
    if (!project_id.empty() && project_id != scope.project_id) {
      return Fail(ErrorCode::kOutOfScope, {}, "another project");
    }
    project_id = scope.project_id;
  }
  return {};
}

Result<std::unique_ptr<RequestCursor>> RequestExporter::Open(const ExportScope& scope,
                                                             RequestQuery query) {
  query.organization_id = scope.organization_id;
  if (auto scoped = Scope(scope, query.project_id); !scoped) {
    return std::unexpected(scoped.error());
  }
  return store_.OpenRequestCursor(query);
}

Result<std::unique_ptr<RequestParts>> RequestExporter::OpenParts(const ExportScope& scope,
                                                                 RequestQuery query,
                                                                 std::size_t max_open) {
  query.organization_id = scope.organization_id;
  if (auto scoped = Scope(scope, query.project_id); !scoped) {
    return std::unexpected(scoped.error());
  }
  return store_.OpenRequestParts(query, max_open);
}

Result<UsageSummary> RequestExporter::Summarize(const ExportScope& scope, UsageSummaryQuery query,
                                                UsageInterval interval, const TimeZone& zone) {
  query.organization_id = scope.organization_id;
  if (auto scoped = Scope(scope, query.project_id); !scoped) {
    return std::unexpected(scoped.error());
  }
  // Day buckets of a zone that is always UTC can come from whole-day rollups; any other zone
  // places UTC hours in its local days.
  query.grain = interval == UsageInterval::kNone                  ? UsageGrain::kTotal
                : interval == UsageInterval::kDay && zone.IsUtc() ? UsageGrain::kUtcDay
                                                                  : UsageGrain::kHour;
  auto rows = store_.SummarizeUsage(query);
  if (!rows) return std::unexpected(rows.error());

  struct Building {
    UsageSummary::Group group;
    std::map<TimeMs, UsageTotals> buckets;
  };
  std::map<std::string, Building> groups;
  for (const UsageRow& row : *rows) {
    Building& building = groups[row.key];
    building.group.key = row.key;
    building.group.label = row.label;
    building.group.project_id = row.project_id;
    building.group.project_name = row.project_name;
    building.group.totals += row.totals;
    if (interval == UsageInterval::kNone) continue;
    const TimeMs start =
        interval == UsageInterval::kHour ? row.period_ms : zone.StartOfDay(row.period_ms);
    building.buckets[start] += row.totals;
  }
  UsageSummary summary;
  summary.groups.reserve(groups.size());
  for (auto& [key, building] : groups) {
    for (const auto& [start, totals] : building.buckets) {
      building.group.series.push_back(UsageSummary::Point{start, totals});
    }
    summary.groups.push_back(std::move(building.group));
  }
  std::stable_sort(summary.groups.begin(), summary.groups.end(),
                   [](const UsageSummary::Group& a, const UsageSummary::Group& b) {
                     return a.totals.requests > b.totals.requests;
                   });
  return summary;
}

}  // namespace gatehouse
