#include "store/usage_rollups.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace gatehouse {
namespace {

// Hashes the parts that tell a batch's keys apart: a token's organization and project are
// the same in every record of it.
struct UsageRollupKeyHash {
  std::size_t operator()(const UsageRollupKey& key) const {
    const std::hash<std::string_view> hash_text;
    std::size_t hash = std::hash<TimeMs>{}(std::get<1>(key));
    for (const std::string_view part : {std::get<2>(key), std::get<4>(key), std::get<5>(key)}) {
      hash ^= hash_text(part) + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    }
    return hash;
  }
};

}  // namespace

UsageTotals TotalsOf(const RequestRecord& record) {
  return UsageTotals{1,
                     record.status == "failed" ? 1 : 0,
                     record.prompt_tokens,
                     record.completion_tokens,
                     record.cost,
                     record.end_ms - record.start_ms};
}

std::vector<UsageRollupSums> SumForRollups(const std::vector<const RequestRecord*>& records) {
  // One pass over the records adds them up by every key and hour (the finest rollup, a hash
  // probe per record); the coarser rollups are sums of those sums, a few rows each when calls
  // share their keys.
  std::unordered_map<UsageRollupKey, UsageTotals, UsageRollupKeyHash> by_hour;
  by_hour.reserve(records.size());
  for (const RequestRecord* record : records) {
    by_hour[UsageRollupKey{record->organization_id, FloorTo(record->start_ms, kHourMs),
                           record->api_token_id, record->project_id,
                           record->assistant ? std::string_view(*record->assistant) : "",
                           record->model}] += TotalsOf(*record);
  }
  // In key order, as the coarser sums were always added up (the same cost totals to the bit).
  std::vector<std::pair<UsageRollupKey, UsageTotals>> finest(by_hour.begin(), by_hour.end());
  std::sort(finest.begin(), finest.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<UsageRollupSums> all;
  all.reserve(std::size(kUsageRollups));
  for (const UsageRollup* rollup : kUsageRollups) {
    std::map<UsageRollupKey, UsageTotals> sums;
    for (const auto& [key, totals] : finest) {
      UsageRollupKey coarser{
          std::get<0>(key), FloorTo(std::get<1>(key), rollup->period), "", "", "", ""};
      if (rollup->by_token) std::get<2>(coarser) = std::get<2>(key);
      if (rollup->by_key) {
        std::get<3>(coarser) = std::get<3>(key);
        std::get<4>(coarser) = std::get<4>(key);
        std::get<5>(coarser) = std::get<5>(key);
      }
      sums[coarser] += totals;
    }
    all.push_back(UsageRollupSums{rollup, {sums.begin(), sums.end()}});
  }
  return all;
}

std::vector<UsageSummaryPart> PlanUsageSummary(const UsageSummaryQuery& query) {
  const bool by_token = query.group_by == UsageDimension::kToken || !query.api_token_id.empty();
  const bool by_key = by_token || query.group_by != UsageDimension::kNone ||
                      !query.project_id.empty() || !query.assistant.empty() || !query.model.empty();
  const UsageRollup* hours = by_token ? &kUsageTokenHours : by_key ? &kUsageHours : &kUsageOrgHours;
  const UsageRollup* days = by_token ? &kUsageTokenDays : &kUsageDays;
  // Without keys the organization's hours are already few (720 in 30 days).
  const bool use_days = by_key && query.grain != UsageGrain::kHour;

  std::vector<UsageSummaryPart> parts;
  const auto add = [&](TimeMs start, TimeMs end, const UsageRollup* rollup) {
    if (start < end) parts.push_back(UsageSummaryPart{start, end, rollup});
  };
  const TimeMs first_hour = CeilTo(query.start_ms, kHourMs);
  const TimeMs end_hour = FloorTo(query.end_ms, kHourMs);
  if (first_hour >= end_hour) {
    add(query.start_ms, query.end_ms, nullptr);
    return parts;
  }
  add(query.start_ms, first_hour, nullptr);
  const TimeMs first_day = CeilTo(first_hour, kDayMs);
  const TimeMs end_day = FloorTo(end_hour, kDayMs);
  if (use_days && first_day < end_day) {
    add(first_hour, first_day, hours);
    add(first_day, end_day, days);
    add(end_day, end_hour, hours);
  } else {
    add(first_hour, end_hour, hours);
  }
  add(end_hour, query.end_ms, nullptr);
  return parts;
}

std::string UsageSummaryKeyExpression(UsageDimension dimension, bool from_records) {
  switch (dimension) {
    case UsageDimension::kNone:
      break;
    case UsageDimension::kProject:
      return "project_id";
    case UsageDimension::kToken:
      return "api_token_id";
    // As in the export, a direct model call names its model as its assistant.
    case UsageDimension::kAssistant:
      return from_records ? "COALESCE(assistant, model)"
                          : "CASE assistant WHEN '' THEN model ELSE assistant END";
    case UsageDimension::kModel:
      return "model";
  }
  return "''";
}

std::string UsageSummaryPeriodExpression(UsageGrain grain, std::string_view time) {
  const std::string column(time);
  switch (grain) {
    case UsageGrain::kTotal:
      break;
    case UsageGrain::kHour:
      return column + " - " + column + " % 3600000";
    case UsageGrain::kUtcDay:
      return column + " - " + column + " % 86400000";
  }
  return "0";
}

std::vector<UsageRow> UsageRowsOf(const UsageRowTotals& totals) {
  std::vector<UsageRow> rows;
  rows.reserve(totals.size());
  for (const auto& [key, sum] : totals) {
    rows.push_back(UsageRow{.key = key.first, .period_ms = key.second, .totals = sum});
  }
  return rows;
}

std::vector<std::string_view> DistinctUsageKeys(const std::vector<UsageRow>& rows) {
  std::vector<std::string_view> keys;
  for (const auto& row : rows) {
    if (keys.empty() || keys.back() != row.key) keys.push_back(row.key);
  }
  return keys;
}

void ApplyUsageLabels(UsageDimension dimension, const UsageLabels& labels,
                      std::vector<UsageRow>& rows) {
  for (auto& row : rows) {
    const auto found = labels.find(row.key);
    if (found == labels.end()) continue;
    row.label = found->second.name;
    if (dimension == UsageDimension::kToken) {
      row.project_id = found->second.project_id;
      row.project_name = found->second.project_name;
    }
  }
}

}  // namespace gatehouse
