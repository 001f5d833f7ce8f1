#include <algorithm>
#include <limits>
#include <string>

#include "store/sqlite/sqlite_request_cursor.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {

Status SqliteStore::AppendRequests(const std::vector<RequestRecord>& records,
                                   RecordArrival arrival) {
  if (records.empty()) return {};
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  sqlite::Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  // A record already stored (a batch written again after a failure, or the journal replayed
  // after a crash) is neither inserted nor added to the rollups a second time. It is found
  // through requests_org_start, whose newest entries (where a fresh batch looks) stay cached.
  auto stored =
      db_.Prepare("SELECT 1 FROM requests WHERE organization_id = ? AND start_ms = ? AND id = ?");
  if (!stored) return std::unexpected(stored.error());
  auto insert = db_.Prepare(
      "INSERT INTO requests(organization_id, project_id, api_token_id, api_token_name, "
      "start_ms, end_ms, id, assistant, intent, module, session_id, model, status, http_status, "
      "prompt_tokens, completion_tokens, total_tokens, cost, prompt, input_text, output) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return std::unexpected(insert.error());
  std::vector<const RequestRecord*> inserted;
  inserted.reserve(records.size());
  for (const auto& record : records) {
    if (arrival == RecordArrival::kMayRepeat) {
      auto found = (*stored)
                       ->Bind(1, record.organization_id)
                       .Bind(2, record.start_ms)
                       .Bind(3, record.id)
                       .Step();
      (*stored)->Reset();
      if (!found) return std::unexpected(found.error());
      if (*found) continue;
    }
    auto added = (*insert)
                     ->Bind(1, record.organization_id)
                     .Bind(2, record.project_id)
                     .Bind(3, record.api_token_id)
                     .Bind(4, record.api_token_name)
                     .Bind(5, record.start_ms)
                     .Bind(6, record.end_ms)
                     .Bind(7, record.id)
                     .BindText(8, record.assistant)
                     .BindText(9, record.intent)
                     .Bind(10, record.module)
                     .BindText(11, record.session_id)
                     .Bind(12, record.model)
                     .Bind(13, record.status)
                     .Bind(14, std::int64_t{record.http_status})
                     .Bind(15, record.prompt_tokens)
                     .Bind(16, record.completion_tokens)
                     .Bind(17, record.total_tokens)
                     .Bind(18, record.cost)
                     .BindText(19, record.prompt)
                     .BindText(20, record.input_text)
                     .BindText(21, record.output)
                     .Run();
    (*insert)->Reset();
    if (!added) return std::unexpected(added.error());
    inserted.push_back(&record);
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
