#include <algorithm>
#include <limits>
#include <string>

#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

// Reads requests from its own read-only connection, a page at a time: each page is one short
// read transaction, so a slow client never pins a WAL snapshot (which would stop checkpoints),
// and the next page continues strictly below the last row seen ("keyset" paging on the
// (start_ms, id) order), which keeps the walk stable while new records arrive. Rows are handed
// to the visitor as views of the statement's columns: nothing is copied per row.
class SqliteRequestCursor final : public RequestCursor {
 public:
  static constexpr std::int64_t kPageRows = 4096;
  static constexpr int kCacheKib = 1024;

  Status Open(const std::string& path, const RequestQuery& query) {
    query_ = query;
    remaining_ = query.count > 0 ? query.count : -1;
    // Only the filters asked for are in the SQL: an unused "(?2 = '' OR project_id = ?2)" is
    // still evaluated on every row, and a project filter can walk requests_project_start.
    std::string where = "WHERE organization_id = ?1 ";
    if (!query.project_id.empty()) where += "AND project_id = ?2 ";
    if (!query.assistant_name.empty()) where += "AND assistant = ?3 ";
    if (!query.status.empty()) where += "AND status = ?4 ";
    if (!query.api_token.empty()) where += "AND (api_token_name = ?5 OR api_token_id = ?5) ";
    where += "AND start_ms >= ?6 AND start_ms <= ?7 ";
    const std::string select =
        "SELECT id, project_id, api_token_id, api_token_name, assistant, intent, module, "
        "session_id, model, status, http_status, start_ms, end_ms, prompt_tokens, "
        "completion_tokens, total_tokens, cost, prompt, input_text, output FROM requests ";
    const std::string order = "ORDER BY start_ms DESC, id DESC LIMIT ?8 OFFSET ?9";
    first_sql_ = select + where + order;
    next_sql_ = select + where + "AND (start_ms < ?10 OR id < ?11) " + order;
    if (auto opened = db_.OpenReadOnly(path); !opened) return opened;
    // One pass over the rows gains nothing from a page cache: a small one keeps each export's
    // memory (issue 12 item 6: up to max_exports_per_organization of them at once) low.
    return db_.Execute("PRAGMA cache_size=-" + std::to_string(kCacheKib));
  }

  Result<std::size_t> Read(const Visitor& visit) override {
    if (done_) return 0;
    std::int64_t limit = kPageRows;
    if (remaining_ >= 0) limit = std::min(limit, remaining_);
    if (limit == 0) {
      done_ = true;
      return 0;
    }
    const bool first = !last_start_ms_;
    const TimeMs end_ms = query_.end_ms.value_or(std::numeric_limits<TimeMs>::max());
    auto stmt = db_.Prepare(first ? first_sql_ : next_sql_);
    if (!stmt) return std::unexpected(stmt.error());
    (*stmt)
        ->Bind(1, query_.organization_id)
        .Bind(6, query_.start_ms.value_or(std::numeric_limits<TimeMs>::min()))
        // Later pages bound start_ms by the last row seen, so the index range starts there
        // instead of rescanning every newer row (ties on it are settled by id).
        .Bind(7, first ? end_ms : std::min(end_ms, *last_start_ms_))
        .Bind(8, limit)
        .Bind(9, first ? query_.skip : std::int64_t{0});
    if (!query_.project_id.empty()) (*stmt)->Bind(2, query_.project_id);
    if (!query_.assistant_name.empty()) (*stmt)->Bind(3, query_.assistant_name);
    if (!query_.status.empty()) (*stmt)->Bind(4, query_.status);
    if (!query_.api_token.empty()) (*stmt)->Bind(5, query_.api_token);
    if (!first) (*stmt)->Bind(10, *last_start_ms_).Bind(11, std::string_view(last_id_));
    std::int64_t rows = 0;
    bool stopped = false;
    RequestRecordView view;
    view.organization_id = query_.organization_id;
    while (rows < limit && !stopped) {
      auto row = (*stmt)->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) {
        done_ = true;
        break;
      }
      ++rows;
      ReadRow(**stmt, view);
      last_start_ms_ = view.start_ms;
      last_id_.assign(view.id);
      stopped = !visit(view);
    }
    if (remaining_ >= 0) {
      remaining_ -= rows;
      if (remaining_ == 0) done_ = true;
    }
    return static_cast<std::size_t>(rows);
  }

 private:
  static void ReadRow(const sqlite::Statement& r, RequestRecordView& record) {
    record.id = r.TextView(0);
    record.project_id = r.TextView(1);
    record.api_token_id = r.TextView(2);
    record.api_token_name = r.TextView(3);
    record.assistant = r.OptionalTextView(4);
    record.intent = r.OptionalTextView(5);
    record.module = r.TextView(6);
    record.session_id = r.OptionalTextView(7);
    record.model = r.TextView(8);
    record.status = r.TextView(9);
    record.http_status = static_cast<int>(r.Int(10));
    record.start_ms = r.Int(11);
    record.end_ms = r.Int(12);
    record.prompt_tokens = r.Int(13);
    record.completion_tokens = r.Int(14);
    record.total_tokens = r.Int(15);
    record.cost = r.Double(16);
    record.prompt = r.OptionalTextView(17);
    record.input_text = r.OptionalTextView(18);
    record.output = r.OptionalTextView(19);
  }

  sqlite::Database db_;
  RequestQuery query_;
  std::string first_sql_;                // the first page, from the query's skip
  std::string next_sql_;                 // later pages, strictly after (last_start_ms_, last_id_)
  std::int64_t remaining_ = -1;          // rows still allowed by `count`; -1 = no limit
  std::optional<TimeMs> last_start_ms_;  // the (start_ms, id) of the last row read
  std::string last_id_;
  bool done_ = false;
};

}  // namespace

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
  auto cursor = std::make_unique<SqliteRequestCursor>();
  if (auto opened = cursor->Open(path_, query); !opened) return std::unexpected(opened.error());
  return std::unique_ptr<RequestCursor>(std::move(cursor));
}

}  // namespace gatehouse
