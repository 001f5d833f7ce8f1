#include "store/postgres/pg_request_cursor.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace gatehouse {

using pg::Params;

namespace {

std::string Placeholder(int number) { return "$" + std::to_string(number); }

constexpr std::size_t kPageTextBytes = 8 << 20;
constexpr std::int64_t kMinPageRows = 4;
constexpr std::int64_t kMaxPageRows = 1024;
constexpr std::int64_t kFirstPageRows = 16;
// What a record costs a page besides its texts (its other columns, libpq's bookkeeping).
constexpr std::size_t kRowOverheadBytes = 512;

// Reads requests a page at a time, newest first: each page is one statement (its own short
// read transaction) on a connection leased for it, and the next page continues strictly below
// the last row of this one (keyset paging on (start_ms, id), the order of the primary key),
// which keeps the walk stable while new records arrive. A page is held until it has been
// visited; rows reach the visitor as views of it.
class PgRequestCursor final : public RequestCursor {
 public:
  // `release` runs when the cursor is destroyed.
  PgRequestCursor(pg::ConnectionPool& pool, const RequestQuery& query,
                  std::function<void()> release = {})
      : pool_(pool), query_(query), release_(std::move(release)) {
    remaining_ = query.count > 0 ? query.count : -1;
    // Only the filters asked for are in the SQL, so that each variant gets its best plan (a
    // project filter can walk requests_project_start).
    std::string where = "WHERE organization_id = $1 ";
    filters_.Text(query.organization_id);
    int number = 1;
    const auto add = [&](const char* condition, const std::string& value) {
      const std::string placeholder = Placeholder(++number);
      std::string text = condition;
      for (std::size_t at; (at = text.find('?')) != std::string::npos;) {
        text.replace(at, 1, placeholder);
      }
      where += text;
      filters_.Text(value);
    };
    if (!query.project_id.empty()) add("AND project_id = ? ", query.project_id);
    if (!query.assistant_name.empty()) add("AND assistant = ? ", query.assistant_name);
    if (!query.status.empty()) add("AND status = ? ", query.status);
    if (!query.api_token.empty()) {
      add("AND (api_token_name = ? OR api_token_id = ?) ", query.api_token);
    }
    // Then start and end bounds, the page's LIMIT, and OFFSET or the last row seen.
    where += "AND start_ms >= " + Placeholder(number + 1) +
             " AND start_ms <= " + Placeholder(number + 2) + " ";
    const std::string limit = " LIMIT " + Placeholder(number + 3);
    const std::string select =
        "SELECT id, project_id, api_token_id, api_token_name, assistant, intent, module, "
        "session_id, model, status, http_status, start_ms, end_ms, prompt_tokens, "
        "completion_tokens, total_tokens, cost, prompt, input_text, output FROM requests ";
    const std::string order = "ORDER BY start_ms DESC, id DESC";
    first_sql_ = select + where + order + limit + " OFFSET " + Placeholder(number + 4);
    next_sql_ = select + where + "AND (start_ms, id) < (" + Placeholder(number + 4) + ", " +
                Placeholder(number + 5) + ") " + order + limit;
  }
  ~PgRequestCursor() override {
    if (release_) release_();
  }
  PgRequestCursor(const PgRequestCursor&) = delete;
  PgRequestCursor& operator=(const PgRequestCursor&) = delete;

  Result<std::size_t> Read(const Visitor& visit) override {
    if (position_ == page_.size()) {
      if (done_) return 0;
      if (auto fetched = Fetch(); !fetched) return std::unexpected(fetched.error());
      if (page_.empty()) return 0;
    }
    RequestRecordView view;
    view.organization_id = query_.organization_id;
    std::size_t visited = 0;
    while (position_ < page_.size()) {
      ReadRow(page_, position_++, view);
      ++visited;
      if (!visit(view)) break;
    }
    return visited;
  }

 private:
  // Reads the next page into page_ (empty at the end of the walk).
  Status Fetch() {
    page_ = pg::Rows();
    position_ = 0;
    std::int64_t limit = page_rows_;
    if (remaining_ >= 0) limit = std::min(limit, remaining_);
    if (limit == 0) {
      done_ = true;
      return {};
    }
    const bool first = !last_start_ms_;
    const TimeMs end_ms = query_.end_ms.value_or(std::numeric_limits<TimeMs>::max());
    Params params = filters_;
    params
        .Int(query_.start_ms.value_or(std::numeric_limits<TimeMs>::min()))
        // Later pages bound start_ms by the last row seen as well, so that partitions of newer
        // months are pruned.
        .Int(first ? end_ms : std::min(end_ms, *last_start_ms_))
        .Int(limit);
    if (first) {
      params.Int(query_.skip);
    } else {
      params.Int(*last_start_ms_).Text(last_id_);
    }
    auto c = pool_.Acquire();
    if (!c) return std::unexpected(c.error());
    auto rows = (*c)->Exec(first ? first_sql_ : next_sql_, params);
    if (!rows) return std::unexpected(rows.error());
    page_ = std::move(*rows);
    const int count = page_.size();
    if (count < limit) done_ = true;
    if (remaining_ >= 0) {
      remaining_ -= count;
      if (remaining_ == 0) done_ = true;
    }
    if (count > 0) {
      last_start_ms_ = page_.Int(count - 1, 11);
      last_id_ = page_.Text(count - 1, 0);
    }
    std::size_t text_bytes = 0;
    for (int row = 0; row < count; ++row) {
      for (int column : {17, 18, 19}) text_bytes += page_.TextView(row, column).size();
    }
    page_rows_ = NextPageRows(count, text_bytes);
    return {};
  }

  static void ReadRow(const pg::Rows& r, int row, RequestRecordView& record) {
    record.id = r.TextView(row, 0);
    record.project_id = r.TextView(row, 1);
    record.api_token_id = r.TextView(row, 2);
    record.api_token_name = r.TextView(row, 3);
    record.assistant = r.OptionalTextView(row, 4);
    record.intent = r.OptionalTextView(row, 5);
    record.module = r.TextView(row, 6);
    record.session_id = r.OptionalTextView(row, 7);
    record.model = r.TextView(row, 8);
    record.status = r.TextView(row, 9);
    record.http_status = static_cast<int>(r.Int(row, 10));
    record.start_ms = r.Int(row, 11);
    record.end_ms = r.Int(row, 12);
    record.prompt_tokens = r.Int(row, 13);
    record.completion_tokens = r.Int(row, 14);
    record.total_tokens = r.Int(row, 15);
    record.cost = r.Real(row, 16);
    record.prompt = r.OptionalTextView(row, 17);
    record.input_text = r.OptionalTextView(row, 18);
    record.output = r.OptionalTextView(row, 19);
  }

  pg::ConnectionPool& pool_;
  const RequestQuery query_;
  std::function<void()> release_;
  Params filters_;               // the parameters of the query's filters, from $1
  std::string first_sql_;        // the first page, from the query's skip
  std::string next_sql_;         // later pages, strictly after (last_start_ms_, last_id_)
  std::int64_t remaining_ = -1;  // rows still allowed by `count`; -1 = no limit
  std::int64_t page_rows_ = NextPageRows(0, 0);  // what the next page asks for
  std::optional<TimeMs> last_start_ms_;          // the (start_ms, id) of the last row fetched
  std::string last_id_;
  pg::Rows page_;  // the page being visited, from row position_
  int position_ = 0;
  bool done_ = false;  // no page after page_
};

// Cuts the walk by time, as on SQLite: a part is the records whose start_ms lies in a span of
// milliseconds that starts at the newest record below the previous part, so its bounds are
// plain start_ms bounds of its cursor (found with one index probe); a span of 0 is sized by
// skipping about kRowsPerCountedPart entries of the primary key (or of requests_project_start
// for a project) with OFFSET.
class PgRequestParts final : public RequestParts {
 public:
  static constexpr std::int64_t kRowsPerCountedPart = 1024;

  PgRequestParts(pg::ConnectionPool& pool, const RequestQuery& query, std::size_t max_open)
      : pool_(pool),
        query_(query),
        max_open_(std::max<std::size_t>(1, max_open)),
        bottom_(query.start_ms.value_or(std::numeric_limits<TimeMs>::min())),
        top_(query.end_ms.value_or(std::numeric_limits<TimeMs>::max())) {
    // Project ids are unique across organizations (the scope check has placed the project in
    // the caller's organization), so a project's index alone can place the cut.
    probe_sql_ =
        std::string("SELECT start_ms FROM requests ") +
        (query.project_id.empty() ? "WHERE organization_id = $1 " : "WHERE project_id = $1 ") +
        "AND start_ms >= $2 AND start_ms <= $3 ORDER BY start_ms DESC, id DESC "
        "LIMIT 1 OFFSET $4";
  }
  ~PgRequestParts() override = default;
  PgRequestParts(const PgRequestParts&) = delete;
  PgRequestParts& operator=(const PgRequestParts&) = delete;

  // Leases a connection once, so that a database that cannot be reached fails the call that
  // opens the parts.
  Status Check() {
    auto c = pool_.Acquire();
    if (!c) return std::unexpected(c.error());
    return {};
  }

  Result<RequestPart> Next(TimeMs span_ms) override {
    if (done_) return RequestPart{};
    {
      std::lock_guard lock(mutex_);
      if (open_ >= max_open_) {
        return std::unexpected(Error(ErrorCode::kInternal, {}, "every request part is open"));
      }
    }
    auto part = Cut(span_ms);
    if (!part) return std::unexpected(part.error());
    if (!*part) {
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
    {
      std::lock_guard lock(mutex_);
      ++open_;
    }
    return RequestPart{
        std::make_unique<PgRequestCursor>(pool_, query,
                                          [this] {
                                            std::lock_guard lock(mutex_);
                                            --open_;
                                          }),
        static_cast<TimeMs>(std::min<std::uint64_t>(span, std::numeric_limits<TimeMs>::max() - 1) +
                            1)};
  }

 private:
  // The start_ms range of the next part, or nullopt when no record is left.
  Result<std::optional<std::pair<TimeMs, TimeMs>>> Cut(TimeMs span_ms) {
    auto c = pool_.Acquire();
    if (!c) return std::unexpected(c.error());
    // Each part starts at the newest record left, so a gap in time costs no empty parts.
    auto newest = StartOf(**c, 0);
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
      auto counted = StartOf(**c, kRowsPerCountedPart - 1);
      if (!counted) return std::unexpected(counted.error());
      if (*counted) from = **counted;
    }
    return std::pair{from, top_};
  }

  // The start_ms of the record `offset` records below top_, or nullopt.
  Result<std::optional<TimeMs>> StartOf(pg::Connection& c, std::int64_t offset) {
    auto rows = c.Exec(probe_sql_, Params()
                                       .Text(query_.project_id.empty() ? query_.organization_id
                                                                       : query_.project_id)
                                       .Int(bottom_)
                                       .Int(top_)
                                       .Int(offset));
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) return std::optional<TimeMs>();
    return rows->Int(0, 0);
  }

  pg::ConnectionPool& pool_;
  const RequestQuery query_;
  const std::size_t max_open_;
  const TimeMs bottom_;  // the oldest start_ms the walk may reach
  TimeMs top_;           // the next part starts at the newest record at or below it
  std::string probe_sql_;
  bool done_ = false;
  std::mutex mutex_;      // guards open_: cursors are destroyed on any thread
  std::size_t open_ = 0;  // cursors handed out and not yet destroyed
};

}  // namespace

std::int64_t NextPageRows(std::int64_t rows, std::size_t text_bytes) {
  if (rows <= 0) return kFirstPageRows;
  const std::size_t per_row = text_bytes / static_cast<std::size_t>(rows) + kRowOverheadBytes;
  const auto fitting = static_cast<std::int64_t>(kPageTextBytes / per_row);
  return std::clamp(fitting, kMinPageRows, kMaxPageRows);
}

Result<std::unique_ptr<RequestCursor>> OpenPgRequestCursor(pg::ConnectionPool& pool,
                                                           const RequestQuery& query) {
  // A database that cannot be reached fails the open, not the first read.
  if (auto c = pool.Acquire(); !c) return std::unexpected(c.error());
  return std::unique_ptr<RequestCursor>(std::make_unique<PgRequestCursor>(pool, query));
}

Result<std::unique_ptr<RequestParts>> OpenPgRequestParts(pg::ConnectionPool& pool,
                                                         const RequestQuery& query,
                                                         std::size_t max_open) {
  if (query.skip != 0 || query.count != 0) {
    return std::unexpected(Error(ErrorCode::kInternal, {}, "request parts with skip or count"));
  }
  auto parts = std::make_unique<PgRequestParts>(pool, query, max_open);
  if (auto checked = parts->Check(); !checked) return std::unexpected(checked.error());
  return std::unique_ptr<RequestParts>(std::move(parts));
}

}  // namespace gatehouse
