#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

// The streamed listing of a project's live tokens (GET /v1/organization/project/{id}/tokens),
// a page at a time through api_tokens_project_live_name (migration 11).
namespace gatehouse {

using namespace sqlite;  // row readers and SQL helpers

namespace {

// ?1 project, ?2 organization, ?3 page size, (?4, ?5, ?6) the (name, status, rowid) of the last
// token returned. The first page binds ('', -1, 0), which every token follows. The separate
// `name >= ?4` is what the planner turns into the index range (it does not use the row value
// for one), so a page reads from the last name on instead of from the project's first token;
// the row value then skips the ties already returned. `status <> 2` is written as the partial
// index's own condition (2 = Revoked), which is what lets SQLite use it.
const std::string kPageSql = std::string("SELECT ") + kTokenFields +
                             ", t.rowid FROM api_tokens t INDEXED BY api_tokens_project_live_name "
                             "WHERE t.project_id = ?1 AND t.organization_id = ?2 AND t.status <> " +
                             kSqlRevoked +
                             " AND t.name COLLATE NOCASE >= ?4"
                             " AND (t.name COLLATE NOCASE, t.status, t.rowid) > (?4, ?5, ?6)"
                             " ORDER BY t.name COLLATE NOCASE, t.status, t.rowid LIMIT ?3";

// The first page is read on a pooled reader, leased for that one statement, so the listing of
// a project of at most one page (most of them) opens nothing. Later pages are read on a
// read-only connection of the cursor's own with a small page cache: one pass over the rows
// gains nothing from a cache, and pages loaded into a pooled reader's large one (16 MiB), on
// whichever pool thread runs the page, stay in that thread's malloc arena once freed (one
// listing of 146,000 tokens left ~30 MiB behind that way). Each page is one statement, whose
// reset (when the borrow ends) ends its read transaction, so a slow client pins no WAL snapshot.
class SqliteTokenCursor final : public TokenCursor {
 public:
  static constexpr int kCacheKib = 1024;

  SqliteTokenCursor(ReaderPool& readers, std::string path, std::string organization_id,
                    std::string project_id, std::int64_t page_rows)
      : readers_(readers),
        path_(std::move(path)),
        organization_id_(std::move(organization_id)),
        project_id_(std::move(project_id)),
        page_rows_(std::max<std::int64_t>(page_rows, 1)) {}

  Result<bool> Next(ApiToken& token) override {
    if (position_ == page_.size()) {
      if (done_) return false;
      if (auto fetched = FetchPage(); !fetched) return std::unexpected(fetched.error());
      if (page_.empty()) return false;
    }
    token = std::move(page_[position_++]);
    return true;
  }

 private:
  Status FetchPage() {
    page_.clear();
    position_ = 0;
    if (organization_name_) {
      if (!own_) {
        auto db = std::make_unique<Database>();
        if (auto opened = db->OpenReadOnly(path_); !opened) return opened;
        if (auto sized = db->Execute("PRAGMA cache_size=-" + std::to_string(kCacheKib)); !sized) {
          return sized;
        }
        own_ = std::move(db);
      }
      return ReadPage(*own_);
    }
    auto reader = readers_.Acquire();
    if (!reader) return std::unexpected(reader.error());
    auto name = (*reader)->Prepare("SELECT name FROM organizations WHERE id = ?1");
    if (!name) return std::unexpected(name.error());
    auto found = (*name)->Bind(1, organization_id_).Step();
    if (!found) return std::unexpected(found.error());
    organization_name_ = *found ? (*name)->Text(0) : std::string();
    return ReadPage(**reader);
  }

  Status ReadPage(Database& db) {
    auto stmt = db.Prepare(kPageSql);
    if (!stmt) return std::unexpected(stmt.error());
    (*stmt)
        ->Bind(1, project_id_)
        .Bind(2, organization_id_)
        .Bind(3, page_rows_)
        .Bind(4, std::get<0>(last_))
        .Bind(5, std::get<1>(last_))
        .Bind(6, std::get<2>(last_));
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      page_.push_back(ReadToken(**stmt));
      page_.back().organization_name = *organization_name_;
      last_ = {page_.back().name, StoredCode(page_.back().status), (*stmt)->Int(kTokenFieldCount)};
    }
    if (static_cast<std::int64_t>(page_.size()) < page_rows_) done_ = true;
    return {};
  }

  ReaderPool& readers_;
  const std::string path_;
  const std::string organization_id_;
  const std::string project_id_;
  const std::int64_t page_rows_;
  std::optional<std::string> organization_name_;  // read with the first page
  std::unique_ptr<Database> own_;                 // opened for the second page
  std::vector<ApiToken> page_;
  std::size_t position_ = 0;
  std::tuple<std::string, std::int64_t, std::int64_t> last_{"", -1, 0};  // (name, status, rowid)
  bool done_ = false;
};

}  // namespace

Result<std::unique_ptr<TokenCursor>> SqliteStore::OpenProjectTokens(
    const std::string& organization_id, const std::string& project_id, std::int64_t page_rows) {
  return std::make_unique<SqliteTokenCursor>(readers_, path_, organization_id, project_id,
                                             page_rows);
}

Result<std::string> SqliteStore::ExplainProjectTokensPage() {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  auto plan = (*reader)->Prepare("EXPLAIN QUERY PLAN " + kPageSql);
  if (!plan) return std::unexpected(plan.error());
  std::string explain = kPageSql + "\n";
  for (;;) {
    auto row = (*plan)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    explain += "  " + (*plan)->Text(3) + "\n";
  }
  return explain;
}

}  // namespace gatehouse
