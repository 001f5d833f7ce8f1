#include "store/sqlite/sqlite_request_cursor.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "store/sqlite/database.h"

namespace gatehouse {
namespace {

// One pass over the rows gains nothing from a page cache: a small one keeps each export's
// memory (issue 12 item 6: up to max_exports_per_organization of them at once) low. A part's
// connection reads a short stretch of rows at a time and needs less.
constexpr int kCursorCacheKib = 1024;
constexpr int kPartCacheKib = 64;

Result<std::unique_ptr<sqlite::Database>> OpenReader(const std::string& path, int cache_kib) {
  auto db = std::make_unique<sqlite::Database>();
  if (auto opened = db->OpenReadOnly(path); !opened) return std::unexpected(opened.error());
  if (auto sized = db->Execute("PRAGMA cache_size=-" + std::to_string(cache_kib)); !sized) {
    return std::unexpected(sized.error());
  }
  return db;
}

// Reads requests a page at a time: each page is one short read transaction, so a slow client
// never pins a WAL snapshot (which would stop checkpoints), and the next page continues strictly
// below the last row seen ("keyset" paging on the (start_ms, id) order), which keeps the walk
// stable while new records arrive. Rows are handed to the visitor as views of the statement's
// columns: nothing is copied per row.
class SqliteRequestCursor final : public RequestCursor {
 public:
  static constexpr std::int64_t kPageRows = 4096;

  // Reads the records of `query` on `db`, which must outlive the cursor. `release` runs when
  // the cursor is destroyed.
  SqliteRequestCursor(sqlite::Database& db, const RequestQuery& query,
                      std::function<void()> release = {})
      : db_(db), query_(query), release_(std::move(release)) {
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
  }
  ~SqliteRequestCursor() override {
    if (release_) release_();
  }
  SqliteRequestCursor(const SqliteRequestCursor&) = delete;
  SqliteRequestCursor& operator=(const SqliteRequestCursor&) = delete;

  // Makes the cursor own the connection it reads on.
  void Own(std::unique_ptr<sqlite::Database> db) { owned_ = std::move(db); }

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
    const TimeMs start_ms = query_.start_ms.value_or(std::numeric_limits<TimeMs>::min());
    auto stmt = db_.Prepare(first ? first_sql_ : next_sql_);
    if (!stmt) return std::unexpected(stmt.error());
    (*stmt)
        ->Bind(1, query_.organization_id)
        .Bind(6, start_ms)
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
      stopped = !visit(view);
    }
    // The next page continues after the last row handed out; the view still holds it (the
    // statement has not stepped past it), and a finished walk has no next page.
    if (rows > 0 && !done_) {
      last_start_ms_ = view.start_ms;
      last_id_.assign(view.id);
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

  sqlite::Database& db_;
  std::unique_ptr<sqlite::Database> owned_;  // db_, when the cursor has a connection of its own
  RequestQuery query_;
  std::function<void()> release_;
  std::string first_sql_;                // the first page, from the query's skip
  std::string next_sql_;                 // later pages, strictly after (last_start_ms_, last_id_)
  std::int64_t remaining_ = -1;          // rows still allowed by `count`; -1 = no limit
  std::optional<TimeMs> last_start_ms_;  // the (start_ms, id) of the last row read
  std::string last_id_;
  bool done_ = false;
};

// Cuts the walk by time: a part is the records whose start_ms lies in a span of milliseconds
// that starts at the newest record below the previous part, so its bounds are plain start_ms
// bounds of its cursor (found with one index seek); a span of 0 is sized by counting about
// kRowsPerCountedPart index entries (requests_org_start, or requests_project_start for a
// project) with OFFSET, which reads no table row.
class SqliteRequestParts final : public RequestParts {
 public:
  static constexpr std::int64_t kRowsPerCountedPart = 1024;

  SqliteRequestParts(std::string path, const RequestQuery& query, std::size_t max_open)
      : path_(std::move(path)),
        query_(query),
        max_open_(std::max<std::size_t>(1, max_open)),
        bottom_(query.start_ms.value_or(std::numeric_limits<TimeMs>::min())),
        top_(query.end_ms.value_or(std::numeric_limits<TimeMs>::max())) {
    // Project ids are unique across organizations (the scope check has placed the project in
    // the caller's organization), so a project's index alone can place the cut.
    probe_sql_ =
        std::string("SELECT start_ms FROM requests ") +
        (query.project_id.empty() ? "WHERE organization_id = ?1 " : "WHERE project_id = ?2 ") +
        "AND start_ms >= ?6 AND start_ms <= ?7 ORDER BY start_ms DESC, id DESC "
        "LIMIT 1 OFFSET ?8";
  }

  // Opens the first connection, so that a database that cannot be read fails the call that
  // opens the parts.
  Status OpenFirst() {
    auto db = Borrow();
    if (!db) return std::unexpected(db.error());
    GiveBack(*db);
    return {};
  }

  Result<RequestPart> Next(TimeMs span_ms) override {
    if (done_) return RequestPart{};
    auto db = Borrow();
    if (!db) return std::unexpected(db.error());
    auto part = Cut(**db, span_ms);
    if (!part || !*part) {
      GiveBack(*db);
      if (!part) return std::unexpected(part.error());
      done_ = true;
      return RequestPart{};
    }
    const auto [from, to] = **part;
    RequestQuery query = query_;
    query.start_ms = from;
    query.end_ms = to;
    done_ = from <= bottom_;
    if (!done_) top_ = from - 1;
    const std::uint64_t span = static_cast<std::uint64_t>(to) - static_cast<std::uint64_t>(from);
    return RequestPart{
        std::make_unique<SqliteRequestCursor>(**db, query, [this, db = *db] { GiveBack(db); }),
        static_cast<TimeMs>(std::min<std::uint64_t>(span, std::numeric_limits<TimeMs>::max() - 1) +
                            1)};
  }

 private:
  // The start_ms range of the next part, or nullopt when no record is left.
  Result<std::optional<std::pair<TimeMs, TimeMs>>> Cut(sqlite::Database& db, TimeMs span_ms) {
    // Each part starts at the newest record left, so a gap in time costs no empty parts.
    auto newest = StartOf(db, 0);
    if (!newest) return std::unexpected(newest.error());
    if (!*newest) return std::nullopt;
    top_ = **newest;
    TimeMs from = bottom_;
    if (span_ms > 0) {
      // top_ - bottom_ in unsigned arithmetic: it may not fit in a TimeMs.
      const std::uint64_t room =
          static_cast<std::uint64_t>(top_) - static_cast<std::uint64_t>(bottom_);
      if (room >= static_cast<std::uint64_t>(span_ms)) from = top_ - span_ms + 1;
    } else {
      auto counted = StartOf(db, kRowsPerCountedPart - 1);
      if (!counted) return std::unexpected(counted.error());
      if (*counted) from = **counted;
    }
    return std::pair{from, top_};
  }

  // The start_ms of the index entry `offset` entries below top_, or nullopt.
  Result<std::optional<TimeMs>> StartOf(sqlite::Database& db, std::int64_t offset) {
    auto stmt = db.Prepare(probe_sql_);
    if (!stmt) return std::unexpected(stmt.error());
    (*stmt)->Bind(6, bottom_).Bind(7, top_).Bind(8, offset);
    if (query_.project_id.empty()) {
      (*stmt)->Bind(1, query_.organization_id);
    } else {
      (*stmt)->Bind(2, query_.project_id);
    }
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::optional<TimeMs>();
    return (*stmt)->Int(0);
  }

  Result<sqlite::Database*> Borrow() {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      sqlite::Database* db = free_.back();
      free_.pop_back();
      return db;
    }
    if (connections_.size() >= max_open_) {
      return std::unexpected(Error(ErrorCode::kInternal, {}, "every request part is open"));
    }
    auto db = OpenReader(path_, kPartCacheKib);
    if (!db) return std::unexpected(db.error());
    connections_.push_back(std::move(*db));
    return connections_.back().get();
  }

  void GiveBack(sqlite::Database* db) {
    std::lock_guard lock(mutex_);
    free_.push_back(db);
  }

  const std::string path_;
  const RequestQuery query_;
  const std::size_t max_open_;
  const TimeMs bottom_;  // the oldest start_ms the walk may reach
  TimeMs top_;           // the next part starts at the newest record at or below it
  std::string probe_sql_;
  bool done_ = false;
  std::mutex mutex_;  // guards connections_ and free_: cursors give theirs back on any thread
  std::vector<std::unique_ptr<sqlite::Database>> connections_;
  std::vector<sqlite::Database*> free_;
};

}  // namespace

Result<std::unique_ptr<RequestCursor>> OpenSqliteRequestCursor(const std::string& path,
                                                               const RequestQuery& query) {
  auto db = OpenReader(path, kCursorCacheKib);
  if (!db) return std::unexpected(db.error());
  auto cursor = std::make_unique<SqliteRequestCursor>(**db, query);
  cursor->Own(std::move(*db));
  return std::unique_ptr<RequestCursor>(std::move(cursor));
}

Result<std::unique_ptr<RequestParts>> OpenSqliteRequestParts(const std::string& path,
                                                             const RequestQuery& query,
                                                             std::size_t max_open) {
  if (query.skip != 0 || query.count != 0) {
    return std::unexpected(Error(ErrorCode::kInternal, {}, "request parts with skip or count"));
  }
  auto parts = std::make_unique<SqliteRequestParts>(path, query, max_open);
  if (auto opened = parts->OpenFirst(); !opened) return std::unexpected(opened.error());
  return std::unique_ptr<RequestParts>(std::move(parts));
}

}  // namespace gatehouse
