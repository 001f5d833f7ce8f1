#include <algorithm>
#include <limits>
#include <string>

#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

// Reads requests from its own read-only connection, a page at a time: each page is one short
// read transaction, so a slow client never pins a WAL snapshot (which would stop checkpoints),
// and the next page continues strictly below the last row seen ("keyset" paging on the
// (start_ms, id) order), which keeps the walk stable while new records arrive.
class SqliteRequestCursor final : public RequestCursor {
 public:
  static constexpr std::int64_t kPageRows = 512;
  static constexpr int kCacheKib = 1024;

  Status Open(const std::string& path, const RequestQuery& query) {
    query_ = query;
    remaining_ = query.count > 0 ? query.count : -1;
    if (auto opened = db_.OpenReadOnly(path); !opened) return opened;
    // One pass over the rows gains nothing from a page cache: a small one keeps each export's
    // memory (issue 12 item 6: up to max_exports_per_organization of them at once) low.
    return db_.Execute("PRAGMA cache_size=-" + std::to_string(kCacheKib));
  }

  Result<bool> Next(RequestRecord& record) override {
    if (position_ == rows_) {
      if (done_) return false;
      if (auto fetched = FetchPage(); !fetched) return std::unexpected(fetched.error());
      if (rows_ == 0) return false;
    }
    // Copied, not moved: the page's strings and the caller's keep their capacity, so a long
    // export allocates nothing per row once the first pages are read.
    record = page_[position_++];
    return true;
  }

 private:
  Status FetchPage() {
    rows_ = 0;
    position_ = 0;
    const bool first = !last_;
    const TimeMs end_ms = query_.end_ms.value_or(std::numeric_limits<TimeMs>::max());
    std::int64_t limit = kPageRows;
    if (remaining_ >= 0) limit = std::min(limit, remaining_);
    if (limit == 0) {
      done_ = true;
      return {};
    }
    auto stmt = db_.Prepare(
        "SELECT id, organization_id, project_id, api_token_id, api_token_name, assistant, intent, "
        "module, session_id, model, status, http_status, start_ms, end_ms, prompt_tokens, "
        "completion_tokens, total_tokens, cost, prompt, input_text, output FROM requests "
        "WHERE organization_id = ?1 AND (?2 = '' OR project_id = ?2) "
        "AND (?3 = '' OR assistant = ?3) AND (?4 = '' OR status = ?4) "
        "AND (?5 = '' OR api_token_name = ?5 OR api_token_id = ?5) "
        "AND start_ms >= ?6 AND start_ms <= ?7 "
        "AND (?10 = 0 OR start_ms < ?11 OR id < ?12) "
        "ORDER BY start_ms DESC, id DESC LIMIT ?8 OFFSET ?9");
    if (!stmt) return std::unexpected(stmt.error());
    (*stmt)
        ->Bind(1, query_.organization_id)
        .Bind(2, query_.project_id)
        .Bind(3, query_.assistant_name)
        .Bind(4, query_.status)
        .Bind(5, query_.api_token)
        .Bind(6, query_.start_ms.value_or(std::numeric_limits<TimeMs>::min()))
        // Later pages bound start_ms by the last row seen, so the index range starts there
        // instead of rescanning every newer row (ties on it are settled by id).
        .Bind(7, first ? end_ms : std::min(end_ms, last_->first))
        .Bind(8, limit)
        .Bind(9, first ? query_.skip : std::int64_t{0})
        .Bind(10, std::int64_t{first ? 0 : 1})
        .Bind(11, first ? TimeMs{0} : last_->first)
        .Bind(12, first ? std::string_view() : std::string_view(last_->second));
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      if (rows_ == page_.size()) page_.emplace_back();
      Read(**stmt, page_[rows_++]);
    }
    if (static_cast<std::int64_t>(rows_) < limit) done_ = true;
    if (remaining_ >= 0) remaining_ -= static_cast<std::int64_t>(rows_);
    if (rows_ > 0) last_.emplace(page_[rows_ - 1].start_ms, page_[rows_ - 1].id);
    return {};
  }

  static void Read(const sqlite::Statement& r, RequestRecord& record) {
    r.ReadText(0, record.id);
    r.ReadText(1, record.organization_id);
    r.ReadText(2, record.project_id);
    r.ReadText(3, record.api_token_id);
    r.ReadText(4, record.api_token_name);
    r.ReadText(5, record.assistant);
    r.ReadText(6, record.intent);
    r.ReadText(7, record.module);
    r.ReadText(8, record.session_id);
    r.ReadText(9, record.model);
    r.ReadText(10, record.status);
    record.http_status = static_cast<int>(r.Int(11));
    record.start_ms = r.Int(12);
    record.end_ms = r.Int(13);
    record.prompt_tokens = r.Int(14);
    record.completion_tokens = r.Int(15);
    record.total_tokens = r.Int(16);
    record.cost = r.Double(17);
    r.ReadText(18, record.prompt);
    r.ReadText(19, record.input_text);
    r.ReadText(20, record.output);
  }

  sqlite::Database db_;
  RequestQuery query_;
  std::int64_t remaining_ = -1;      // rows still allowed by `count`; -1 = no limit
  std::vector<RequestRecord> page_;  // reused: rows_ of them hold the current page
  std::size_t rows_ = 0;
  std::size_t position_ = 0;
  std::optional<std::pair<TimeMs, std::string>> last_;  // (start_ms, id) of the last row read
  bool done_ = false;
};

}  // namespace

Status SqliteStore::AppendRequests(const std::vector<RequestRecord>& records) {
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
    auto found = (*stored)
                     ->Bind(1, record.organization_id)
                     .Bind(2, record.start_ms)
                     .Bind(3, record.id)
                     .Step();
    (*stored)->Reset();
    if (!found) return std::unexpected(found.error());
    if (*found) continue;
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
