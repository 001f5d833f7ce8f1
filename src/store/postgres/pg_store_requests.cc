#include <algorithm>
#include <set>
#include <string_view>
#include <tuple>

#include "store/postgres/pg_request_cursor.h"
#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"

// The request-record part of PgStore: appending records (with their rollups,
// pg_store_usage.cc) and walking them (pg_request_cursor.cc).
namespace gatehouse {

using pg::ArrayLiteral;
using pg::Params;
using pg::Transaction;

namespace {

constexpr int kRecordColumns = 21;
// Records per INSERT: each statement sends one array literal per column, so a batch's copy of
// its texts stays bounded however large the batch (a journal replay).
constexpr std::size_t kRowsPerInsert = 1000;

// One INSERT of many records: each parameter is one column's array ($1 the organizations, ...)
// and unnest() turns them back into rows, in the batch's order. With `skip_stored` a record
// already stored (the primary key: organization, start, id) is skipped and the statement
// returns the keys of the rows it inserted.
std::string InsertSql(bool skip_stored) {
  static constexpr const char* kTypes[kRecordColumns] = {
      "text",   "text",   "text",   "text",   "bigint", "bigint", "text",
      "text",   "text",   "text",   "text",   "text",   "text",   "integer",
      "bigint", "bigint", "bigint", "float8", "text",   "text",   "text"};
  std::string sql =
      "INSERT INTO requests(organization_id, project_id, api_token_id, api_token_name, "
      "start_ms, end_ms, id, assistant, intent, module, session_id, model, status, http_status, "
      "prompt_tokens, completion_tokens, total_tokens, cost, prompt, input_text, output) "
      "SELECT * FROM unnest(";
  for (int column = 0; column < kRecordColumns; ++column) {
    if (column) sql += ", ";
    sql += "$" + std::to_string(column + 1) + "::" + kTypes[column] + "[]";
  }
  sql += ")";
  if (skip_stored) sql += " ON CONFLICT DO NOTHING RETURNING organization_id, start_ms, id";
  return sql;
}

// The parameters of InsertSql for records [begin, end) of `records`.
Params RecordColumns(const std::vector<RequestRecord>& records, std::size_t begin,
                     std::size_t end) {
  ArrayLiteral columns[kRecordColumns];
  for (std::size_t i = begin; i < end; ++i) {
    const RequestRecord& record = records[i];
    columns[0].Text(record.organization_id);
    columns[1].Text(record.project_id);
    columns[2].Text(record.api_token_id);
    columns[3].Text(record.api_token_name);
    columns[4].Int(record.start_ms);
    columns[5].Int(record.end_ms);
    columns[6].Text(record.id);
    columns[7].OptionalText(record.assistant);
    columns[8].OptionalText(record.intent);
    columns[9].Text(record.module);
    columns[10].OptionalText(record.session_id);
    columns[11].Text(record.model);
    columns[12].Text(record.status);
    columns[13].Int(record.http_status);
    columns[14].Int(record.prompt_tokens);
    columns[15].Int(record.completion_tokens);
    columns[16].Int(record.total_tokens);
    columns[17].Real(record.cost);
    columns[18].OptionalText(record.prompt);
    columns[19].OptionalText(record.input_text);
    columns[20].OptionalText(record.output);
  }
  Params params;
  for (ArrayLiteral& column : columns) params.Array(column);
  return params;
}

}  // namespace

Status PgStore::AppendRequests(const std::vector<RequestRecord>& records, RecordArrival arrival) {
  if (records.empty()) return {};
  static const std::string kInsert = InsertSql(false);
  static const std::string kInsertUnstored = InsertSql(true);
  auto c = records_.Acquire();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  std::vector<const RequestRecord*> inserted;
  inserted.reserve(records.size());
  for (std::size_t begin = 0; begin < records.size(); begin += kRowsPerInsert) {
    const std::size_t end = std::min(records.size(), begin + kRowsPerInsert);
    if (arrival == RecordArrival::kFresh) {
      // A record stored already fails the batch (the primary key), which the request log then
      // writes again as kMayRepeat.
      if (auto done = (*c)->Run(kInsert, RecordColumns(records, begin, end)); !done) return done;
      for (std::size_t i = begin; i < end; ++i) inserted.push_back(&records[i]);
      continue;
    }
    // A record already stored (a batch written again after a failure, or the journal replayed
    // after a crash) is neither inserted nor added to the rollups a second time; of a record
    // given twice, the first is the one stored.
    auto rows = (*c)->Exec(kInsertUnstored, RecordColumns(records, begin, end));
    if (!rows) return std::unexpected(rows.error());
    std::set<std::tuple<std::string_view, TimeMs, std::string_view>> stored;
    for (int row = 0; row < rows->size(); ++row) {
      stored.emplace(rows->TextView(row, 0), rows->Int(row, 1), rows->TextView(row, 2));
    }
    for (std::size_t i = begin; i < end; ++i) {
      const RequestRecord& record = records[i];
      if (stored.erase({record.organization_id, record.start_ms, record.id}) > 0) {
        inserted.push_back(&record);
      }
    }
  }
  if (auto rolled = RollUpIn(**c, inserted); !rolled) return rolled;
  return transaction.Commit();
}

Result<std::unique_ptr<RequestCursor>> PgStore::OpenRequestCursor(const RequestQuery& query) {
  return OpenPgRequestCursor(exports_, query);
}

Result<std::unique_ptr<RequestParts>> PgStore::OpenRequestParts(const RequestQuery& query,
                                                                std::size_t max_open) {
  return OpenPgRequestParts(exports_, query, max_open);
}

}  // namespace gatehouse
