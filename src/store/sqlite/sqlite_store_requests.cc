#include <algorithm>
#include <limits>
#include <string>

#include "store/sqlite/sqlite_request_cursor.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

constexpr int kRecordColumns = 21;
// Records per INSERT of a fresh batch. One statement of many rows opens its cursors once and
// keeps them where the last row went, so the next row's seek into the organization's index
// (records arrive in about time order) starts on that index's last page instead of its root;
// it also saves a step, a reset and the statement's start-up per record. 32 rows are 672
// parameters, far below SQLite's limit of 32,766.
constexpr std::size_t kRowsPerInsert = 32;

// The INSERT of `rows` records, bound by BindRecord.
std::string InsertSql(std::size_t rows) {
  std::string sql =
      "INSERT OR FAIL INTO requests(organization_id, project_id, api_token_id, api_token_name, "
      "start_ms, end_ms, id, assistant, intent, module, session_id, model, status, http_status, "
      "prompt_tokens, completion_tokens, total_tokens, cost, prompt, input_text, output) VALUES ";
  for (std::size_t row = 0; row < rows; ++row) {
    sql += row == 0 ? "(?" : ", (?";
    for (int column = 1; column < kRecordColumns; ++column) sql += ", ?";
    sql += ')';
  }
  return sql;
}

// Binds `record` to the parameters of the row that starts at parameter `first`. The texts are
// not copied: the batch outlives the statement's run.
void BindRecord(sqlite::Statement& insert, int first, const RequestRecord& record) {
  insert.BindUncopied(first, record.organization_id)
      .BindUncopied(first + 1, record.project_id)
      .BindUncopied(first + 2, record.api_token_id)
      .BindUncopied(first + 3, record.api_token_name)
      .Bind(first + 4, record.start_ms)
      .Bind(first + 5, record.end_ms)
      .BindUncopied(first + 6, record.id)
      .BindTextUncopied(first + 7, record.assistant)
      .BindTextUncopied(first + 8, record.intent)
      .BindUncopied(first + 9, record.module)
      .BindTextUncopied(first + 10, record.session_id)
      .BindUncopied(first + 11, record.model)
      .BindUncopied(first + 12, record.status)
      .Bind(first + 13, std::int64_t{record.http_status})
      .Bind(first + 14, record.prompt_tokens)
      .Bind(first + 15, record.completion_tokens)
      .Bind(first + 16, record.total_tokens)
      .Bind(first + 17, record.cost)
      .BindTextUncopied(first + 18, record.prompt)
      .BindTextUncopied(first + 19, record.input_text)
      .BindTextUncopied(first + 20, record.output);
}

}  // namespace

Status SqliteStore::AppendRequests(const std::vector<RequestRecord>& records,
                                   RecordArrival arrival) {
  if (records.empty()) return {};
  // Never destroyed: the writer thread may still be storing a batch while a process exits.
  static const std::string& kInsertOne = *new std::string(InsertSql(1));
  static const std::string& kInsertMany = *new std::string(InsertSql(kRowsPerInsert));
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  sqlite::Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto insert = db_.Prepare(kInsertOne);
  if (!insert) return std::unexpected(insert.error());
  std::vector<const RequestRecord*> inserted;
  inserted.reserve(records.size());
  std::size_t next = 0;  // the first record not yet inserted
  if (arrival == RecordArrival::kFresh) {
    auto insert_many = db_.Prepare(kInsertMany);
    if (!insert_many) return std::unexpected(insert_many.error());
    for (; records.size() - next >= kRowsPerInsert; next += kRowsPerInsert) {
      for (std::size_t row = 0; row < kRowsPerInsert; ++row) {
        BindRecord(**insert_many, static_cast<int>(row) * kRecordColumns + 1, records[next + row]);
      }
      auto added = (*insert_many)->Run();
      (*insert_many)->Reset();
      if (!added) return std::unexpected(added.error());
    }
    for (const auto& record : records) inserted.push_back(&record);
  }
  // A record already stored (a batch written again after a failure, or the journal replayed
  // after a crash) is neither inserted nor added to the rollups a second time. It is found
  // through requests_org_start, whose newest entries (where a fresh batch looks) stay cached.
  auto stored =
      db_.Prepare("SELECT 1 FROM requests WHERE organization_id = ? AND start_ms = ? AND id = ?");
  if (!stored) return std::unexpected(stored.error());
  for (; next < records.size(); ++next) {
    const RequestRecord& record = records[next];
    if (arrival == RecordArrival::kMayRepeat) {
      auto found = (*stored)
                       ->Bind(1, record.organization_id)
                       .Bind(2, record.start_ms)
                       .Bind(3, record.id)
                       .Step();
      (*stored)->Reset();
      if (!found) return std::unexpected(found.error());
      if (*found) continue;
      inserted.push_back(&record);
    }
    BindRecord(**insert, 1, record);
    auto added = (*insert)->Run();
    (*insert)->Reset();
    if (!added) return std::unexpected(added.error());
  }
  if (auto rolled = RollUpLocked(inserted); !rolled) return rolled;
  return transaction.Commit();
}

Result<std::unique_ptr<RequestCursor>> SqliteStore::OpenRequestCursor(const RequestQuery& query) {
  return OpenSqliteRequestCursor(path_, query);
}

Result<std::unique_ptr<RequestParts>> SqliteStore::OpenRequestParts(const RequestQuery& query,
                                                                    std::size_t max_open) {
  return OpenSqliteRequestParts(path_, query, max_open);
}

}  // namespace gatehouse
