#include <algorithm>
#include <array>
#include <map>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "core/text.h"
#include "store/sqlite/sqlite_store.h"

// The usage-summary part of SqliteStore: rollups by hour and by day kept in step with the
// request records (migrations 9 and 10), and the summary query over them.
namespace gatehouse {
namespace {

constexpr TimeMs kHourMs = 3'600'000;
constexpr TimeMs kDayMs = 24 * kHourMs;

// The start of the period of length `period` that contains `at`.
TimeMs FloorTo(TimeMs at, TimeMs period) { return at - ((at % period) + period) % period; }
TimeMs CeilTo(TimeMs at, TimeMs period) { return FloorTo(at + period - 1, period); }

UsageTotals TotalsOf(const RequestRecord& record) {
  return UsageTotals{1,
                     record.status == "failed" ? 1 : 0,
                     record.prompt_tokens,
                     record.completion_tokens,
                     record.cost,
                     record.end_ms - record.start_ms};
}

// One rollup table (migrations 9 and 10): the totals of the records per organization, period
// and whichever keys the table has.
struct Rollup {
  const char* table;
  const char* time_column;
  TimeMs period;
  bool by_key;    // project_id, assistant ('' for none) and model
  bool by_token;  // api_token_id
  // The indexes that make one token's or one project's periods a range. Without statistics
  // (no ANALYZE) SQLite would rather walk the primary key's whole time range, so the summary
  // names them.
  const char* token_index;
  const char* project_index;
};

constexpr Rollup kOrgHours{"usage_org_hours", "hour_ms", kHourMs, false, false, nullptr, nullptr};
constexpr Rollup kHours{"usage_hours",        "hour_ms", kHourMs, true, false, nullptr,
                        "usage_hours_project"};
constexpr Rollup kTokenHours{"usage_token_hours",       "hour_ms", kHourMs, true, true,
                             "usage_token_hours_token", nullptr};
constexpr Rollup kDays{"usage_days", "day_ms", kDayMs, true, false, nullptr, nullptr};
constexpr Rollup kTokenDays{
    "usage_token_days",        "day_ms", kDayMs, true, true, "usage_token_days_token",
    "usage_token_days_project"};
constexpr const Rollup* kRollups[] = {&kOrgHours, &kHours, &kTokenHours, &kDays, &kTokenDays};

// The upsert that adds a batch's totals for one key to a rollup.
std::string AddSql(const Rollup& rollup) {
  std::string columns = std::string("organization_id, ") + rollup.time_column;
  int keys = 2;
  if (rollup.by_token) columns += ", api_token_id", ++keys;
  if (rollup.by_key) columns += ", project_id, assistant, model", keys += 3;
  std::string sql = std::string("INSERT INTO ") + rollup.table + " (" + columns +
                    ", requests, failed, prompt_tokens, completion_tokens, cost, elapsed_ms) "
                    "VALUES (?";
  for (int i = 1; i < keys + 6; ++i) sql += ", ?";
  return sql +
         ") ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, "
         "failed = failed + excluded.failed, prompt_tokens = prompt_tokens + "
         "excluded.prompt_tokens, completion_tokens = completion_tokens + "
         "excluded.completion_tokens, cost = cost + excluded.cost, "
         "elapsed_ms = elapsed_ms + excluded.elapsed_ms";
}

// (organization, period start, token, project, assistant, model); the parts a rollup does not
// have stay empty. Views into the batch's records, which outlive the sums.
using RollupKey = std::tuple<std::string_view, TimeMs, std::string_view, std::string_view,
                             std::string_view, std::string_view>;

// Hashes the parts that tell a batch's keys apart: a token's organization and project are
// the same in every record of it.
struct RollupKeyHash {
  std::size_t operator()(const RollupKey& key) const {
    const std::hash<std::string_view> hash_text;
    std::size_t hash = std::hash<TimeMs>{}(std::get<1>(key));
    for (const std::string_view part : {std::get<2>(key), std::get<4>(key), std::get<5>(key)}) {
      hash ^= hash_text(part) + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    }
    return hash;
  }
};

using RollupSums = std::vector<std::pair<RollupKey, UsageTotals>>;

// Upserts `sums` (key and totals pairs sorted by key, so each rollup's pages are visited in
// order) into `rollup`.
template <typename Sums>
Status AddToRollup(sqlite::Database& db, const Rollup& rollup, const Sums& sums) {
  auto stmt = db.Prepare(AddSql(rollup));
  if (!stmt) return std::unexpected(stmt.error());
  auto& s = **stmt;
  for (const auto& [key, totals] : sums) {
    int index = 0;
    const auto bind = [&](const auto& value) { s.Bind(++index, value); };
    bind(std::get<0>(key));
    bind(std::get<1>(key));
    if (rollup.by_token) bind(std::get<2>(key));
    if (rollup.by_key) {
      bind(std::get<3>(key));
      bind(std::get<4>(key));
      bind(std::get<5>(key));
    }
    bind(totals.requests);
    bind(totals.failed);
    bind(totals.prompt_tokens);
    bind(totals.completion_tokens);
    bind(totals.cost);
    bind(totals.elapsed_ms);
    auto run = s.Run();
    s.Reset();
    if (!run) return run;
  }
  return {};
}

// One part of a summary's range: the records themselves (rollup null) for partial hours, or a
// rollup's whole periods.
struct Part {
  TimeMs start = 0;
  TimeMs end = 0;
  const Rollup* rollup = nullptr;
};

// Splits [start, end) into the parts that read the fewest rows: records for the partial hours
// at the ends, whole UTC days from a daily rollup when the grain allows, hours around them.
std::vector<Part> PlanParts(const UsageSummaryQuery& query) {
  const bool by_token = query.group_by == UsageDimension::kToken || !query.api_token_id.empty();
  const bool by_key = by_token || query.group_by != UsageDimension::kNone ||
                      !query.project_id.empty() || !query.assistant.empty() || !query.model.empty();
  const Rollup* hours = by_token ? &kTokenHours : by_key ? &kHours : &kOrgHours;
  const Rollup* days = by_token ? &kTokenDays : &kDays;
  // Without keys the organization's hours are already few (720 in 30 days).
  const bool use_days = by_key && query.grain != UsageGrain::kHour;

  std::vector<Part> parts;
  const auto add = [&](TimeMs start, TimeMs end, const Rollup* rollup) {
    if (start < end) parts.push_back(Part{start, end, rollup});
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

// The SQL of one part. Only the filters in use become conditions, so each variant uses its
// best index.
std::string SummarySql(const UsageSummaryQuery& query, const Part& part) {
  const bool from_records = part.rollup == nullptr;
  const std::string assistant = from_records ? "COALESCE(assistant, '')" : "assistant";
  const std::string time = from_records ? "start_ms" : part.rollup->time_column;
  std::string key = "''";
  switch (query.group_by) {
    case UsageDimension::kNone:
      break;
    case UsageDimension::kProject:
      key = "project_id";
      break;
    case UsageDimension::kToken:
      key = "api_token_id";
      break;
    // As in the export, a direct model call names its model as its assistant.
    case UsageDimension::kAssistant:
      key = from_records ? "COALESCE(assistant, model)"
                         : "CASE assistant WHEN '' THEN model ELSE assistant END";
      break;
    case UsageDimension::kModel:
      key = "model";
      break;
  }
  std::string period = "0";
  if (query.grain == UsageGrain::kHour) period = time + " - " + time + " % 3600000";
  if (query.grain == UsageGrain::kUtcDay) period = time + " - " + time + " % 86400000";
  std::string sql = "SELECT " + key + ", " + period;
  if (from_records) {
    sql +=
        ", COUNT(*), SUM(status = 'failed'), SUM(prompt_tokens), SUM(completion_tokens), "
        "SUM(cost), SUM(end_ms - start_ms) FROM requests";
  } else {
    sql +=
        ", SUM(requests), SUM(failed), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost), "
        "SUM(elapsed_ms) FROM ";
    sql += part.rollup->table;
    if (!query.api_token_id.empty()) {
      sql += std::string(" INDEXED BY ") + part.rollup->token_index;
    } else if (!query.project_id.empty() && part.rollup->project_index) {
      sql += std::string(" INDEXED BY ") + part.rollup->project_index;
    }
  }
  sql += " WHERE organization_id = ?1 AND " + time + " >= ?2 AND " + time + " < ?3";
  if (!query.project_id.empty()) sql += " AND project_id = ?4";
  if (!query.api_token_id.empty()) sql += " AND api_token_id = ?5";
  if (!query.assistant.empty()) sql += " AND " + assistant + " = ?6";
  if (!query.model.empty()) sql += " AND model = ?7";
  return sql + " GROUP BY 1, 2";
}

using RowKey = std::pair<std::string, TimeMs>;  // (group key, period start)

Status AddPart(sqlite::Database& db, const UsageSummaryQuery& query, const Part& part,
               std::map<RowKey, UsageTotals>& rows) {
  auto stmt = db.Prepare(SummarySql(query, part));
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, query.organization_id).Bind(2, part.start).Bind(3, part.end);
  if (!query.project_id.empty()) (*stmt)->Bind(4, query.project_id);
  if (!query.api_token_id.empty()) (*stmt)->Bind(5, query.api_token_id);
  if (!query.assistant.empty()) (*stmt)->Bind(6, query.assistant);
  if (!query.model.empty()) (*stmt)->Bind(7, query.model);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    const auto& r = **stmt;
    rows[{r.Text(0), r.Int(1)}] +=
        UsageTotals{r.Int(2), r.Int(3), r.Int(4), r.Int(5), r.Double(6), r.Int(7)};
  }
}

// The current name of each project or token a summary is grouped by (and a token's project),
// looked up in one statement per few thousand groups: a grouping by token can have as many
// groups as the organization has tokens.
Status Label(sqlite::Database& db, UsageDimension dimension, std::vector<UsageRow>& rows) {
  std::string sql;
  if (dimension == UsageDimension::kProject) {
    sql = "SELECT id, name, id, name FROM projects WHERE id IN (SELECT value FROM json_each(?1))";
  } else if (dimension == UsageDimension::kToken) {
    sql =
        "SELECT t.id, t.name, COALESCE(t.project_id, ''), COALESCE(p.name, '') "
        "FROM api_tokens t LEFT JOIN projects p ON p.id = t.project_id "
        "WHERE t.id IN (SELECT value FROM json_each(?1))";
  } else {
    return {};
  }
  // Rows come sorted by key (and period): each key once.
  std::vector<std::string_view> keys;
  for (const auto& row : rows) {
    if (keys.empty() || keys.back() != row.key) keys.push_back(row.key);
  }
  constexpr std::size_t kPerStatement = 4096;
  std::map<std::string, std::array<std::string, 3>, std::less<>> names;
  for (std::size_t first = 0; first < keys.size(); first += kPerStatement) {
    std::string ids = "[";
    for (std::size_t i = first; i < std::min(keys.size(), first + kPerStatement); ++i) {
      if (i > first) ids += ',';
      ids += '"';
      AppendJsonEscaped(ids, keys[i]);
      ids += '"';
    }
    ids += ']';
    auto stmt = db.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    (*stmt)->Bind(1, ids);
    for (;;) {
      auto step = (*stmt)->Step();
      if (!step) return std::unexpected(step.error());
      if (!*step) break;
      const auto& r = **stmt;
      names[r.Text(0)] = {r.Text(1), r.Text(2), r.Text(3)};
    }
  }
  for (auto& row : rows) {
    const auto found = names.find(row.key);
    if (found == names.end()) continue;  // a token or project that exists only in the records
    row.label = found->second[0];
    if (dimension == UsageDimension::kToken) {
      row.project_id = found->second[1];
      row.project_name = found->second[2];
    }
  }
  return {};
}

}  // namespace

Status SqliteStore::RollUpLocked(const std::vector<const RequestRecord*>& records) {
  // One pass over the records adds them up by every key and hour (the finest rollup, a hash
  // probe per record); the coarser rollups are sums of those sums, a few rows each when calls
  // share their keys.
  std::unordered_map<RollupKey, UsageTotals, RollupKeyHash> by_hour;
  by_hour.reserve(records.size());
  for (const RequestRecord* record : records) {
    by_hour[RollupKey{record->organization_id, FloorTo(record->start_ms, kHourMs),
                      record->api_token_id, record->project_id,
                      record->assistant ? std::string_view(*record->assistant) : "",
                      record->model}] += TotalsOf(*record);
  }
  // In key order, as the coarser sums were always added up (the same cost totals to the bit).
  RollupSums finest(by_hour.begin(), by_hour.end());
  std::sort(finest.begin(), finest.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const Rollup* rollup : kRollups) {
    std::map<RollupKey, UsageTotals> sums;
    for (const auto& [key, totals] : finest) {
      RollupKey coarser{
          std::get<0>(key), FloorTo(std::get<1>(key), rollup->period), "", "", "", ""};
      if (rollup->by_token) std::get<2>(coarser) = std::get<2>(key);
      if (rollup->by_key) {
        std::get<3>(coarser) = std::get<3>(key);
        std::get<4>(coarser) = std::get<4>(key);
        std::get<5>(coarser) = std::get<5>(key);
      }
      sums[coarser] += totals;
    }
    if (auto added = AddToRollup(db_, *rollup, sums); !added) return added;
  }
  return {};
}

Result<std::vector<UsageRow>> SqliteStore::SummarizeUsage(const UsageSummaryQuery& query) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  // One read transaction, so the rollups and the records of the partial hours agree.
  if (auto begun = db.Execute("BEGIN"); !begun) return std::unexpected(begun.error());
  struct EndRead {
    sqlite::Database& db;
    ~EndRead() { (void)db.Execute("COMMIT"); }
  } end_read{db};

  std::map<RowKey, UsageTotals> totals;
  for (const Part& part : PlanParts(query)) {
    if (auto added = AddPart(db, query, part, totals); !added) {
      return std::unexpected(added.error());
    }
  }

  std::vector<UsageRow> rows;
  rows.reserve(totals.size());
  for (auto& [key, sum] : totals) {
    rows.push_back(UsageRow{.key = key.first, .period_ms = key.second, .totals = sum});
  }
  if (auto labelled = Label(db, query.group_by, rows); !labelled) {
    return std::unexpected(labelled.error());
  }
  return rows;
}

}  // namespace gatehouse
