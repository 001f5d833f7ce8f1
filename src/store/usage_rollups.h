#ifndef GATEHOUSE_STORE_USAGE_ROLLUPS_H_
#define GATEHOUSE_STORE_USAGE_ROLLUPS_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/model.h"
#include "store/store.h"

// The usage rollups of request records that every Store keeps (the same tables on SQLite and
// PostgreSQL): what a batch of records adds to each, and which of them a usage summary reads.
// Backend-neutral; each store writes its own SQL around these.
namespace gatehouse {

inline constexpr TimeMs kHourMs = 3'600'000;
inline constexpr TimeMs kDayMs = 24 * kHourMs;

// The start of the period of length `period` that contains `at` (also for negative times).
constexpr TimeMs FloorTo(TimeMs at, TimeMs period) {
  return at - ((at % period) + period) % period;
}
constexpr TimeMs CeilTo(TimeMs at, TimeMs period) { return FloorTo(at + period - 1, period); }

// One rollup table: the totals of the records per organization, period and whichever keys the
// table has.
struct UsageRollup {
  const char* table;
  const char* time_column;
  TimeMs period;
  bool by_key;    // project_id, assistant ('' for none) and model
  bool by_token;  // api_token_id
  // The indexes that make one token's or one project's periods a range (null: none), for a
  // store whose planner must be told (SQLite without statistics).
  const char* token_index = nullptr;
  const char* project_index = nullptr;
};

inline constexpr UsageRollup kUsageOrgHours{.table = "usage_org_hours",
                                            .time_column = "hour_ms",
                                            .period = kHourMs,
                                            .by_key = false,
                                            .by_token = false};
inline constexpr UsageRollup kUsageHours{.table = "usage_hours",
                                         .time_column = "hour_ms",
                                         .period = kHourMs,
                                         .by_key = true,
                                         .by_token = false,
                                         .project_index = "usage_hours_project"};
inline constexpr UsageRollup kUsageTokenHours{.table = "usage_token_hours",
                                              .time_column = "hour_ms",
                                              .period = kHourMs,
                                              .by_key = true,
                                              .by_token = true,
                                              .token_index = "usage_token_hours_token"};
inline constexpr UsageRollup kUsageDays{.table = "usage_days",
                                        .time_column = "day_ms",
                                        .period = kDayMs,
                                        .by_key = true,
                                        .by_token = false};
inline constexpr UsageRollup kUsageTokenDays{.table = "usage_token_days",
                                             .time_column = "day_ms",
                                             .period = kDayMs,
                                             .by_key = true,
                                             .by_token = true,
                                             .token_index = "usage_token_days_token",
                                             .project_index = "usage_token_days_project"};
// In the order a batch adds to them (the same on every store, so concurrent writers lock the
// tables in one order).
inline constexpr const UsageRollup* kUsageRollups[] = {
    &kUsageOrgHours, &kUsageHours, &kUsageTokenHours, &kUsageDays, &kUsageTokenDays};

// (organization, period start, token, project, assistant, model); the parts a rollup does not
// have stay empty. Views into the batch's records, which must outlive the sums.
using UsageRollupKey = std::tuple<std::string_view, TimeMs, std::string_view, std::string_view,
                                  std::string_view, std::string_view>;

// What a batch adds to one rollup: totals per key, sorted by key (each key once).
struct UsageRollupSums {
  const UsageRollup* rollup;
  std::vector<std::pair<UsageRollupKey, UsageTotals>> sums;
};

// The totals `record` adds: one request, failed when its status is "failed".
UsageTotals TotalsOf(const RequestRecord& record);

// What `records` (newly stored) add to each rollup of kUsageRollups, in that order. The cost of
// a key is always added up in the same order, so every store reaches the same totals to the bit.
std::vector<UsageRollupSums> SumForRollups(const std::vector<const RequestRecord*>& records);

// One part of a summary's range [start, end): the records themselves (rollup null) for partial
// hours, or a rollup's whole periods.
struct UsageSummaryPart {
  TimeMs start = 0;
  TimeMs end = 0;
  const UsageRollup* rollup = nullptr;
};

// Splits the query's range into the parts that read the fewest rows: records for the partial
// hours at the ends, whole UTC days from a daily rollup when the grain allows, hours around them.
std::vector<UsageSummaryPart> PlanUsageSummary(const UsageSummaryQuery& query);

// The SQL expression (the same on SQLite and PostgreSQL) of a summary row's group key for
// `dimension`, over the records or over a rollup.
std::string UsageSummaryKeyExpression(UsageDimension dimension, bool from_records);
// The SQL expression of a summary row's period start at `grain` from the bigint column `time`.
std::string UsageSummaryPeriodExpression(UsageGrain grain, std::string_view time);

// A summary's totals as its parts are added up: per (group key, period start).
using UsageRowTotals = std::map<std::pair<std::string, TimeMs>, UsageTotals>;
// The rows of `totals`, sorted by key and period, not yet labelled.
std::vector<UsageRow> UsageRowsOf(const UsageRowTotals& totals);
// Each key of `rows` (sorted by key, as UsageRowsOf makes them) once.
std::vector<std::string_view> DistinctUsageKeys(const std::vector<UsageRow>& rows);

// The current name of a project or token a summary groups by, and a token's project.
struct UsageLabel {
  std::string name;
  std::string project_id;
  std::string project_name;
};
using UsageLabels = std::map<std::string, UsageLabel, std::less<>>;
// Labels the rows grouped by `dimension` (kProject or kToken) from `labels`; a key without a
// label (a token or project that exists only in the records) stays unlabelled.
void ApplyUsageLabels(UsageDimension dimension, const UsageLabels& labels,
                      std::vector<UsageRow>& rows);

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_USAGE_ROLLUPS_H_
