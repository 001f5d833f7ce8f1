#include <array>
#include <map>
#include <tuple>

#include "store/sqlite/sqlite_store.h"

// The usage-summary part of SqliteStore: hourly rollups kept in step with the request records
// (migration 9), and the summary query over them.
namespace gatehouse {
namespace {

constexpr TimeMs kHourMs = 3'600'000;

TimeMs HourOf(TimeMs at) { return at - ((at % kHourMs) + kHourMs) % kHourMs; }

UsageTotals TotalsOf(const RequestRecord& record) {
  return UsageTotals{1,
                     record.status == "failed" ? 1 : 0,
                     record.prompt_tokens,
                     record.completion_tokens,
                     record.cost,
                     record.end_ms - record.start_ms};
}

// Adds `totals` to the row of `key` in a rollup table, creating it when new.
template <typename... Key>
Status AddToRollup(sqlite::Database& db, const std::string& insert, const std::tuple<Key...>& key,
                   const UsageTotals& totals) {
  auto stmt = db.Prepare(insert);
  if (!stmt) return std::unexpected(stmt.error());
  int index = 0;
  std::apply([&](const auto&... part) { ((*stmt)->Bind(++index, part), ...); }, key);
  (*stmt)->Bind(index + 1, totals.requests);
  (*stmt)->Bind(index + 2, totals.failed);
  (*stmt)->Bind(index + 3, totals.prompt_tokens);
  (*stmt)->Bind(index + 4, totals.completion_tokens);
  (*stmt)->Bind(index + 5, totals.cost);
  (*stmt)->Bind(index + 6, totals.elapsed_ms);
  return (*stmt)->Run();
}

constexpr const char* kAddTotals =
    " ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, "
    "failed = failed + excluded.failed, prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
    "completion_tokens = completion_tokens + excluded.completion_tokens, "
    "cost = cost + excluded.cost, elapsed_ms = elapsed_ms + excluded.elapsed_ms";

// The SQL of one part of a summary: the rollup table's whole hours, or the records of a partial
// hour. Only the filters in use become conditions, so each variant uses its best index.
std::string SummarySql(const UsageSummaryQuery& query, bool from_records) {
  const bool by_token = query.group_by == UsageDimension::kToken || !query.api_token_id.empty();
  const std::string assistant = from_records ? "COALESCE(assistant, '')" : "assistant";
  const std::string time = from_records ? "start_ms" : "hour_ms";
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
  std::string hour = "0";
  if (query.hourly) hour = from_records ? "start_ms - start_ms % 3600000" : "hour_ms";
  std::string sql = "SELECT " + key + ", " + hour;
  sql += from_records ? ", COUNT(*), SUM(status = 'failed'), SUM(prompt_tokens), "
                        "SUM(completion_tokens), SUM(cost), SUM(end_ms - start_ms) FROM requests"
                      : ", SUM(requests), SUM(failed), SUM(prompt_tokens), SUM(completion_tokens), "
                        "SUM(cost), SUM(elapsed_ms) FROM ";
  if (!from_records) {
    // One token's hours are a range of its index; without statistics (no ANALYZE) SQLite
    // would rather walk the primary key's whole time range.
    sql += !query.api_token_id.empty() ? "usage_token_hours INDEXED BY usage_token_hours_token"
           : by_token                  ? "usage_token_hours"
                                       : "usage_hours";
  }
  sql += " WHERE organization_id = ?1 AND " + time + " >= ?2 AND " + time + " < ?3";
  if (!query.project_id.empty()) sql += " AND project_id = ?4";
  if (!query.api_token_id.empty()) sql += " AND api_token_id = ?5";
  if (!query.assistant.empty()) sql += " AND " + assistant + " = ?6";
  if (!query.model.empty()) sql += " AND model = ?7";
  return sql + " GROUP BY 1, 2";
}

using RowKey = std::pair<std::string, TimeMs>;  // (group key, hour)

Status AddPart(sqlite::Database& db, const UsageSummaryQuery& query, bool from_records,
               TimeMs start, TimeMs end, std::map<RowKey, UsageTotals>& rows) {
  if (start >= end) return {};
  auto stmt = db.Prepare(SummarySql(query, from_records));
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, query.organization_id).Bind(2, start).Bind(3, end);
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

// The current name of each project or token a summary is grouped by (and a token's project).
Status Label(sqlite::Database& db, UsageDimension dimension, std::vector<UsageRow>& rows) {
  const char* sql = nullptr;
  if (dimension == UsageDimension::kProject)
    sql = "SELECT name, id, name FROM projects WHERE id = ?1";
  if (dimension == UsageDimension::kToken) {
    sql =
        "SELECT t.name, COALESCE(t.project_id, ''), COALESCE(p.name, '') FROM api_tokens t "
        "LEFT JOIN projects p ON p.id = t.project_id WHERE t.id = ?1";
  }
  if (!sql) return {};
  std::map<std::string, std::array<std::string, 3>> names;
  for (auto& row : rows) {
    auto [found, is_new] = names.try_emplace(row.key);
    if (is_new) {
      auto stmt = db.Prepare(sql);
      if (!stmt) return std::unexpected(stmt.error());
      auto step = (*stmt)->Bind(1, row.key).Step();
      if (!step) return std::unexpected(step.error());
      if (*step) found->second = {(*stmt)->Text(0), (*stmt)->Text(1), (*stmt)->Text(2)};
    }
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
  using HourKey = std::tuple<std::string, TimeMs, std::string, std::string, std::string>;
  using TokenHourKey =
      std::tuple<std::string, TimeMs, std::string, std::string, std::string, std::string>;
  std::map<HourKey, UsageTotals> hours;
  std::map<TokenHourKey, UsageTotals> token_hours;
  for (const RequestRecord* record : records) {
    const TimeMs hour = HourOf(record->start_ms);
    const std::string assistant = record->assistant.value_or("");
    const UsageTotals totals = TotalsOf(*record);
    hours[{record->organization_id, hour, record->project_id, assistant, record->model}] += totals;
    token_hours[{record->organization_id, hour, record->api_token_id, record->project_id, assistant,
                 record->model}] += totals;
  }
  const std::string add_hour =
      std::string("INSERT INTO usage_hours VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)") + kAddTotals;
  for (const auto& [key, totals] : hours) {
    if (auto added = AddToRollup(db_, add_hour, key, totals); !added) return added;
  }
  const std::string add_token_hour =
      std::string("INSERT INTO usage_token_hours VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)") +
      kAddTotals;
  for (const auto& [key, totals] : token_hours) {
    if (auto added = AddToRollup(db_, add_token_hour, key, totals); !added) return added;
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
  const TimeMs first_whole = HourOf(query.start_ms + kHourMs - 1);
  const TimeMs end_whole = HourOf(query.end_ms);
  Status added;
  if (first_whole >= end_whole) {
    added = AddPart(db, query, true, query.start_ms, query.end_ms, totals);
  } else {
    added = AddPart(db, query, true, query.start_ms, first_whole, totals);
    if (added) added = AddPart(db, query, false, first_whole, end_whole, totals);
    if (added) added = AddPart(db, query, true, end_whole, query.end_ms, totals);
  }
  if (!added) return std::unexpected(added.error());

  std::vector<UsageRow> rows;
  rows.reserve(totals.size());
  for (auto& [key, sum] : totals) {
    rows.push_back(UsageRow{.key = key.first, .hour_ms = key.second, .totals = sum});
  }
  if (auto labelled = Label(db, query.group_by, rows); !labelled) {
    return std::unexpected(labelled.error());
  }
  return rows;
}

}  // namespace gatehouse
