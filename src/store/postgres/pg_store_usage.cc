#include <string>

#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"
#include "store/usage_rollups.h"

// The usage-summary part of PgStore: the rollups by hour and by day kept in step with the
// request records (store/usage_rollups.h, the same tables as on SQLite), and the summary query
// over them.
namespace gatehouse {

using pg::ArrayLiteral;
using pg::Params;
using pg::Transaction;

namespace {

// The upsert that adds a batch's sums to `rollup`: one parameter per column, each an array of
// the batch's keys or totals (in key order, so concurrent writers lock rows in one order).
std::string AddSql(const UsageRollup& rollup) {
  std::string keys = std::string("organization_id, ") + rollup.time_column;
  std::string types = "$1::text[], $2::bigint[]";
  int number = 2;
  const auto add_text = [&](const char* column) {
    keys += std::string(", ") + column;
    types += ", $" + std::to_string(++number) + "::text[]";
  };
  if (rollup.by_token) add_text("api_token_id");
  if (rollup.by_key) {
    add_text("project_id");
    add_text("assistant");
    add_text("model");
  }
  std::string sql = std::string("INSERT INTO ") + rollup.table + " AS r (" + keys +
                    ", requests, failed, prompt_tokens, completion_tokens, cost, elapsed_ms) "
                    "SELECT * FROM unnest(" +
                    types;
  for (const char* type : {"bigint", "bigint", "bigint", "bigint", "float8", "bigint"}) {
    sql += ", $" + std::to_string(++number) + "::" + type + "[]";
  }
  return sql + ") ON CONFLICT (" + keys +
         ") DO UPDATE SET requests = r.requests + excluded.requests, "
         "failed = r.failed + excluded.failed, "
         "prompt_tokens = r.prompt_tokens + excluded.prompt_tokens, "
         "completion_tokens = r.completion_tokens + excluded.completion_tokens, "
         "cost = r.cost + excluded.cost, elapsed_ms = r.elapsed_ms + excluded.elapsed_ms";
}

Status AddToRollup(pg::Connection& c, const UsageRollupSums& sums) {
  if (sums.sums.empty()) return {};
  const UsageRollup& rollup = *sums.rollup;
  ArrayLiteral organizations, periods, tokens, projects, assistants, models;
  ArrayLiteral requests, failed, prompt_tokens, completion_tokens, cost, elapsed_ms;
  for (const auto& [key, totals] : sums.sums) {
    organizations.Text(std::get<0>(key));
    periods.Int(std::get<1>(key));
    tokens.Text(std::get<2>(key));
    projects.Text(std::get<3>(key));
    assistants.Text(std::get<4>(key));
    models.Text(std::get<5>(key));
    requests.Int(totals.requests);
    failed.Int(totals.failed);
    prompt_tokens.Int(totals.prompt_tokens);
    completion_tokens.Int(totals.completion_tokens);
    cost.Real(totals.cost);
    elapsed_ms.Int(totals.elapsed_ms);
  }
  Params params;
  params.Array(organizations).Array(periods);
  if (rollup.by_token) params.Array(tokens);
  if (rollup.by_key) params.Array(projects).Array(assistants).Array(models);
  params.Array(requests)
      .Array(failed)
      .Array(prompt_tokens)
      .Array(completion_tokens)
      .Array(cost)
      .Array(elapsed_ms);
  return c.Run(AddSql(rollup), params);
}

// The SQL of one part of a summary, with its parameters in `params`. Only the filters in use
// become conditions, so each variant gets its best plan.
std::string SummarySql(const UsageSummaryQuery& query, const UsageSummaryPart& part,
                       Params& params) {
  const bool from_records = part.rollup == nullptr;
  const std::string assistant = from_records ? "COALESCE(assistant, '')" : "assistant";
  const std::string time = from_records ? "start_ms" : part.rollup->time_column;
  std::string sql = "SELECT " + UsageSummaryKeyExpression(query.group_by, from_records) + ", " +
                    UsageSummaryPeriodExpression(query.grain, time);
  if (from_records) {
    sql +=
        ", COUNT(*), COUNT(*) FILTER (WHERE status = 'failed'), SUM(prompt_tokens), "
        "SUM(completion_tokens), SUM(cost), SUM(end_ms - start_ms) FROM requests";
  } else {
    sql +=
        ", SUM(requests), SUM(failed), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost), "
        "SUM(elapsed_ms) FROM ";
    sql += part.rollup->table;
  }
  sql += " WHERE organization_id = $1 AND " + time + " >= $2 AND " + time + " < $3";
  params.Text(query.organization_id).Int(part.start).Int(part.end);
  int number = 3;
  const auto add = [&](const std::string& column, const std::string& value) {
    if (value.empty()) return;
    sql += " AND " + column + " = $" + std::to_string(++number);
    params.Text(value);
  };
  add("project_id", query.project_id);
  add("api_token_id", query.api_token_id);
  add(assistant, query.assistant);
  add("model", query.model);
  return sql + " GROUP BY 1, 2";
}

Status AddPart(pg::Connection& c, const UsageSummaryQuery& query, const UsageSummaryPart& part,
               UsageRowTotals& totals) {
  Params params;
  const std::string sql = SummarySql(query, part, params);
  auto rows = c.Exec(sql, params);
  if (!rows) return std::unexpected(rows.error());
  for (int i = 0; i < rows->size(); ++i) {
    totals[{rows->Text(i, 0), rows->Int(i, 1)}] +=
        UsageTotals{rows->Int(i, 2), rows->Int(i, 3),  rows->Int(i, 4),
                    rows->Int(i, 5), rows->Real(i, 6), rows->Int(i, 7)};
  }
  return {};
}

// The current name of each project or token a summary is grouped by (and a token's project),
// in one statement.
Status Label(pg::Connection& c, UsageDimension dimension, std::vector<UsageRow>& rows) {
  std::string sql;
  if (dimension == UsageDimension::kProject) {
    sql = "SELECT id, name, id, name FROM projects WHERE id = ANY($1::text[])";
  } else if (dimension == UsageDimension::kToken) {
    sql =
        "SELECT t.id, t.name, COALESCE(t.project_id, ''), COALESCE(p.name, '') "
        "FROM api_tokens t LEFT JOIN projects p ON p.id = t.project_id "
        "WHERE t.id = ANY($1::text[])";
  } else {
    return {};
  }
  if (rows.empty()) return {};
  ArrayLiteral ids;
  for (const std::string_view key : DistinctUsageKeys(rows)) ids.Text(key);
  auto found = c.Exec(sql, Params().Array(ids));
  if (!found) return std::unexpected(found.error());
  UsageLabels labels;
  for (int i = 0; i < found->size(); ++i) {
    labels[found->Text(i, 0)] = UsageLabel{found->Text(i, 1), found->Text(i, 2), found->Text(i, 3)};
  }
  ApplyUsageLabels(dimension, labels, rows);
  return {};
}

}  // namespace

Status PgStore::RollUpIn(pg::Connection& c, const std::vector<const RequestRecord*>& records) {
  for (const UsageRollupSums& sums : SumForRollups(records)) {
    if (auto added = AddToRollup(c, sums); !added) return added;
  }
  return {};
}

Result<std::vector<UsageRow>> PgStore::SummarizeUsage(const UsageSummaryQuery& query) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  // One snapshot, so the rollups and the records of the partial hours agree.
  Transaction read(**c);
  if (!read.begun()) return std::unexpected(read.begun().error());
  if (auto set = (*c)->RunScript("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      !set) {
    return std::unexpected(set.error());
  }
  UsageRowTotals totals;
  for (const UsageSummaryPart& part : PlanUsageSummary(query)) {
    if (auto added = AddPart(**c, query, part, totals); !added) {
      return std::unexpected(added.error());
    }
  }
  std::vector<UsageRow> rows = UsageRowsOf(totals);
  if (auto labelled = Label(**c, query.group_by, rows); !labelled) {
    return std::unexpected(labelled.error());
  }
  if (auto ended = read.Commit(); !ended) return std::unexpected(ended.error());
  return rows;
}

}  // namespace gatehouse
