#include <algorithm>
#include <string_view>

#include "core/text.h"
#include "store/sqlite/sqlite_store.h"
#include "store/usage_rollups.h"

// The usage-summary part of SqliteStore: rollups by hour and by day kept in step with the
// request records (migrations 9 and 10; store/usage_rollups.h), and the summary query over them.
namespace gatehouse {
namespace {

// The upsert that adds a batch's totals for one key to a rollup.
std::string AddSql(const UsageRollup& rollup) {
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

// Upserts `sums` (key and totals pairs sorted by key, so each rollup's pages are visited in
// order) into their rollup.
Status AddToRollup(sqlite::Database& db, const UsageRollupSums& sums) {
  const UsageRollup& rollup = *sums.rollup;
  auto stmt = db.Prepare(AddSql(rollup));
  if (!stmt) return std::unexpected(stmt.error());
  auto& s = **stmt;
  for (const auto& [key, totals] : sums.sums) {
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

// The SQL of one part. Only the filters in use become conditions, so each variant uses its
// best index.
std::string SummarySql(const UsageSummaryQuery& query, const UsageSummaryPart& part) {
  const bool from_records = part.rollup == nullptr;
  const std::string assistant = from_records ? "COALESCE(assistant, '')" : "assistant";
  const std::string time = from_records ? "start_ms" : part.rollup->time_column;
  const std::string key = UsageSummaryKeyExpression(query.group_by, from_records);
  const std::string period = UsageSummaryPeriodExpression(query.grain, time);
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

Status AddPart(sqlite::Database& db, const UsageSummaryQuery& query, const UsageSummaryPart& part,
               UsageRowTotals& rows) {
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
  const std::vector<std::string_view> keys = DistinctUsageKeys(rows);
  constexpr std::size_t kPerStatement = 4096;
  UsageLabels names;
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
      names[r.Text(0)] = UsageLabel{r.Text(1), r.Text(2), r.Text(3)};
    }
  }
  ApplyUsageLabels(dimension, names, rows);
  return {};
}

}  // namespace

Status SqliteStore::RollUpLocked(const std::vector<const RequestRecord*>& records) {
  for (const UsageRollupSums& sums : SumForRollups(records)) {
    if (auto added = AddToRollup(db_, sums); !added) return added;
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

  UsageRowTotals totals;
  for (const UsageSummaryPart& part : PlanUsageSummary(query)) {
    if (auto added = AddPart(db, query, part, totals); !added) {
      return std::unexpected(added.error());
    }
  }

  std::vector<UsageRow> rows = UsageRowsOf(totals);
  if (auto labelled = Label(db, query.group_by, rows); !labelled) {
    return std::unexpected(labelled.error());
  }
  return rows;
}

}  // namespace gatehouse
