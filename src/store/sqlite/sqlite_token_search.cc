#include <algorithm>
#include <chrono>
#include <limits>

#include "core/text.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

// The console's token search (API.md §6) over SQLite, index-driven at a million tokens
// (docs/BENCHMARKS.md has the plans). Two plans:
// * order first: walk the sort key's index (which also covers status, scope and project name)
//   and let LIMIT/OFFSET stop the walk; used when many tokens match;
// * filter first: read the few matching rows through the most selective source (a project,
//   a status, or the name's sort index) and sort them; used when at most
//   kSortInMemoryLimit match, where walking the sort index would mostly skip.
// Counts come from api_token_counts (kept by the store and triggers), except with a name filter,
// which is counted up to kNameCountBound: only that many of its matches can be paged through
// (docs/api-decisions.md).
// A name filter is answered from the in-memory TokenNameIndex once it is loaded: it counts the
// matches and, in name order, sorts them, so that only the page's rows are read; the SQL plans
// for names (a walk of the name's sort index) serve until then (migration 13 dropped the
// trigram index that served 3+ characters).
namespace gatehouse {

using namespace sqlite;  // row readers and SQL helpers

namespace {

constexpr std::int64_t kSortInMemoryLimit = 4000;
constexpr std::int64_t kNameCountBound = 10000;
// Up to this many name matches in another order than the name's are read by rowid and sorted;
// more are found by walking the order's index.
constexpr std::int64_t kReadByRowidLimit = 2000;
// Without a name filter, a page in name order comes from the name index's memory: from its
// ranked order (12 bytes a token, read in order up to the page's end) once that is made;
// before, from a selection among the matches when more than kSortInMemoryLimit and at most
// kNameIndexSortLimit tokens match (names compared at random places of the index's text cost
// more beyond that) and either they are at most 1/kSelectiveShare of the organization's or the
// walk of the name index to the page would pass more than kLongWalk entries (~100 ns each).
constexpr std::int64_t kNameIndexSortLimit = 20000;
constexpr std::int64_t kSelectiveShare = 20;
constexpr std::int64_t kLongWalk = 50000;

// Bound parameters: ?1 organization, ?2 scope, ?3 project id, ?4 name LIKE pattern,
// ?6 project name LIKE pattern, ?7 limit, ?8 offset.
void BindSearch(Statement& stmt, const TokenQuery& query) {
  stmt.Bind(1, query.organization_id);
  if (query.scope) stmt.Bind(2, StoredCode(*query.scope));
  if (!query.project_id.empty()) stmt.Bind(3, query.project_id);
  if (!query.name_contains.empty()) {
    stmt.Bind(4, LikeContains(query.name_contains));
  }
  if (!query.project_name_contains.empty()) {
    stmt.Bind(6, LikeContains(query.project_name_contains));
  }
}

std::string StatusList(const std::vector<TokenStatus>& statuses) {
  std::string list = "(";
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    list += (i ? ", " : "") + std::to_string(StoredCode(statuses[i]));
  }
  return list + ")";
}

const std::string kMatchingProjects =
    "(SELECT id FROM projects WHERE organization_id = ?1 AND name LIKE ?6 ESCAPE '\\')";

// Conditions on api_tokens t for every filter of `query` (the name one only `with_name`).
// Status and scope are written as +t.status and +t.scope (not index constraints) unless the
// status index is the source: an equality the planner sees on a column of the sort index
// makes it sort "the right part of ORDER BY" in a temporary B-tree, which reads every row
// that OFFSET skips.
std::string TokenFilters(const TokenQuery& query, bool with_name, bool status_source = false) {
  std::string where = " WHERE t.organization_id = ?1";
  if (query.scope) where += " AND +t.scope = ?2";
  if (!query.project_id.empty()) where += " AND t.project_id = ?3";
  if (!query.project_name_contains.empty()) {
    where += " AND t.project_name LIKE ?6 ESCAPE '\\' AND +t.scope = " + kSqlProjectScope;
  }
  if (!query.statuses.empty()) {
    where += std::string(status_source ? " AND t.status IN " : " AND +t.status IN ") +
             StatusList(query.statuses);
  }
  if (with_name && !query.name_contains.empty()) where += " AND t.name LIKE ?4 ESCAPE '\\'";
  return where;
}

// Sum of api_token_counts over the owner filters (scope, project, project name) and, with
// `by_status`, the status filter.
std::string CounterSql(const TokenQuery& query, bool by_owner, bool by_status) {
  std::string sql =
      "SELECT COALESCE(SUM(c.tokens), 0) FROM api_token_counts c WHERE c.organization_id = ?1";
  if (by_owner) {
    if (query.scope == TokenScope::kOrganization) sql += " AND c.project_id = ''";
    if (query.scope == TokenScope::kProject) sql += " AND c.project_id <> ''";
    if (!query.project_id.empty()) sql += " AND c.project_id = ?3";
    if (!query.project_name_contains.empty()) sql += " AND c.project_id IN " + kMatchingProjects;
  }
  if (by_status && !query.statuses.empty()) sql += " AND c.status IN " + StatusList(query.statuses);
  return sql;
}

bool HasOwnerFilter(const TokenQuery& query) {
  return query.scope == TokenScope::kOrganization || !query.project_id.empty() ||
         !query.project_name_contains.empty();
}

// A condition that lets api_tokens_project find the owner filter's rows.
std::string OwnerSource(const TokenQuery& query) {
  if (!query.project_id.empty()) return " AND t.project_id = ?3";
  if (!query.project_name_contains.empty()) return " AND t.project_id IN " + kMatchingProjects;
  return " AND t.project_id IS NULL";
}

// The name index's reads of api_tokens, stamped by updated_at (the writer's wall clock).
class SqliteNameSource final : public NameIndexSource {
 public:
  explicit SqliteNameSource(Database& db) : db_(db) {}

  Result<std::int64_t> NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  Status ReadAll(const Visit& visit) override {
    auto all = db_.Prepare(kColumns);
    if (!all) return std::unexpected(all.error());
    return Read(**all, visit);
  }

  Result<std::int64_t> ReadChanged(std::int64_t since, std::int64_t after_rowid,
                                   const Visit& visit) override {
    auto now = NowMs();
    auto changed = db_.Prepare(std::string(kColumns) + " WHERE updated_at >= ?1 UNION ALL " +
                               kColumns + " WHERE rowid > ?2 AND updated_at < ?1");
    if (!changed) return std::unexpected(changed.error());
    (*changed)->Bind(1, since).Bind(2, after_rowid);
    if (auto read = Read(**changed, visit); !read) return std::unexpected(read.error());
    return now;
  }

 private:
  static constexpr const char* kColumns =
      "SELECT rowid, organization_id, name, status, scope, COALESCE(project_id, ''), "
      "project_name, updated_at, created_at, description, last_used_at FROM api_tokens";

  static Status Read(Statement& stmt, const Visit& visit) {
    NameIndexRow row;
    for (;;) {
      auto stepped = stmt.Step();
      if (!stepped) return std::unexpected(stepped.error());
      if (!*stepped) return {};
      const Statement& s = stmt;
      row.rowid = s.Int(0);
      s.ReadText(1, row.organization_id);
      s.ReadText(2, row.name);
      row.status = s.Int(3);
      row.scope = s.Int(4);
      s.ReadText(5, row.project_id);
      s.ReadText(6, row.project_name);
      row.updated_at = s.Int(7);
      row.created_at = s.Int(8);
      s.ReadText(9, row.description);
      row.last_used_at = s.IsNull(10) ? std::nullopt : std::optional(s.Int(10));
      visit(row);
    }
  }

  Database& db_;
};

}  // namespace

Result<bool> SqliteStore::SyncNameIndex(Database& db) {
  SqliteNameSource source(db);
  return name_index_.Sync(source);
}

namespace {

// Appends `sql` and its EXPLAIN QUERY PLAN to *explain, when explain is not null.
void Explain(Database& db, const std::string& sql, std::string* explain) {
  if (!explain) return;
  *explain += sql + "\n";
  auto plan = db.Prepare("EXPLAIN QUERY PLAN " + sql);
  if (!plan) return;
  while (true) {
    auto row = (*plan)->Step();
    if (!row || !*row) break;
    *explain += "  " + (*plan)->Text(3) + "\n";
  }
}

// Runs a one-number query of the search with its parameters bound.
Result<std::int64_t> Count(Database& db, const std::string& sql, const TokenQuery& query,
                           std::string* explain) {
  Explain(db, sql, explain);
  auto stmt = db.Prepare(sql);
  if (!stmt) return std::unexpected(stmt.error());
  BindSearch(**stmt, query);
  auto row = (*stmt)->Step();
  if (!row) return std::unexpected(row.error());
  return (*stmt)->Int(0);
}

}  // namespace

Result<TokenPage> SqliteStore::SearchTokens(const TokenQuery& query) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  return SearchTokensIn(**reader, query, nullptr);
}

Status SqliteStore::RefreshSearchIndex() {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  const bool loaded = name_index_.Loaded();
  auto synced = SyncNameIndex(**reader);
  if (!synced) return std::unexpected(synced.error());
  if (!loaded && *synced) (*reader)->ReleaseCache();  // the load read every token row
  name_index_.Rank();
  return {};
}

Result<std::string> SqliteStore::ExplainSearchTokens(const TokenQuery& query) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  std::string explain;
  auto page = SearchTokensIn(**reader, query, &explain);
  if (!page) return std::unexpected(page.error());
  return explain;
}

Result<TokenPage> SqliteStore::SearchTokensIn(Database& db, const TokenQuery& query,
                                              std::string* explain) {
  const TokenOrder& order = OrderOf(query.order_key);
  const bool by_name = !query.name_contains.empty();
  if (by_name && name_index_use_ != NameIndexUse::kNever) {
    auto indexed = SyncNameIndex(db);
    if (!indexed) return std::unexpected(indexed.error());
    if (*indexed) return SearchByNameIndex(db, query, explain);
  }

  TokenPage page;
  std::string source;  // filter first: " FROM api_tokens t <hint>" plus a source condition
  std::string source_condition;
  bool status_source = false;
  if (!by_name) {
    auto count = Count(db, CounterSql(query, true, true), query, explain);
    if (!count) return std::unexpected(count.error());
    page.count = *count;
    if (auto indexed = SearchInIndexOrder(db, query, page.count, explain)) return *indexed;
    // One project's tokens are read through the project index whatever their number: the
    // sort indexes do not cover project ids (a project listing has no LIMIT anyway).
    if (!query.project_id.empty()) {
      source = " FROM api_tokens t INDEXED BY api_tokens_project";
      source_condition = OwnerSource(query);
    } else if (page.count <= kSortInMemoryLimit) {
      auto by_status = Count(db, CounterSql(query, false, true), query, explain);
      if (!by_status) return std::unexpected(by_status.error());
      std::int64_t by_owner = std::numeric_limits<std::int64_t>::max();
      if (HasOwnerFilter(query)) {
        auto counted = Count(db, CounterSql(query, true, false), query, explain);
        if (!counted) return std::unexpected(counted.error());
        by_owner = *counted;
      }
      if (by_owner < *by_status) {
        source = " FROM api_tokens t INDEXED BY api_tokens_project";
        source_condition = OwnerSource(query);
      } else {
        source = " FROM api_tokens t INDEXED BY api_tokens_by_status";
        status_source = true;
      }
    }
  } else {
    // The name index covers every filter, so counting walks it without reading rows.
    auto count =
        Count(db,
              "SELECT COUNT(*) FROM (SELECT 1 FROM api_tokens t INDEXED BY "
              "api_tokens_by_name" +
                  TokenFilters(query, true) + " LIMIT " + std::to_string(kNameCountBound + 1) + ")",
              query, explain);
    if (!count) return std::unexpected(count.error());
    page.count = std::min(*count, kNameCountBound);
    page.count_is_lower_bound = *count > kNameCountBound;
    if (*count <= kSortInMemoryLimit) source = " FROM api_tokens t INDEXED BY api_tokens_by_name";
  }
  // With a bounded name count only the first kNameCountBound matches are reachable.
  if (query.offset >= page.count) return page;

  if (source.empty()) source = std::string(" FROM api_tokens t INDEXED BY ") + order.index;
  const std::string filters = TokenFilters(query, true, status_source) + source_condition;
  return ReadPage(db, query, source + filters, true, nullptr, std::move(page), explain);
}

Result<TokenPage> SqliteStore::ReadPage(Database& db, const TokenQuery& query,
                                        const std::string& from, bool paged,
                                        const std::string* rowids, TokenPage page,
                                        std::string* explain) {
  const std::string list = std::string("SELECT ") + kTokenFields + from +
                           OrderByClause(OrderOf(query.order_key), query.descending) +
                           (paged ? " LIMIT ?7 OFFSET ?8" : "");
  Explain(db, list, explain);
  auto stmt = db.Prepare(list);
  if (!stmt) return std::unexpected(stmt.error());
  BindSearch(**stmt, query);
  if (paged) (*stmt)->Bind(7, query.limit > 0 ? query.limit : -1).Bind(8, query.offset);
  if (rowids) (*stmt)->Bind(9, *rowids);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    page.tokens.push_back(ReadToken(**stmt));
  }
  if (!page.tokens.empty()) {
    auto name = db.Prepare("SELECT name FROM organizations WHERE id = ?1");
    if (!name) return std::unexpected(name.error());
    auto found = (*name)->Bind(1, query.organization_id).Step();
    if (!found) return std::unexpected(found.error());
    const std::string organization_name = *found ? (*name)->Text(0) : std::string();
    for (auto& token : page.tokens) token.organization_name = organization_name;
  }
  return page;
}

namespace {

// The ranked order a page in `order` walks; the status order is the name order within each
// status.
RankedKey RankedKeyOf(TokenOrderKey order) {
  switch (order) {
    case TokenOrderKey::kName:
    case TokenOrderKey::kStatus:
      return RankedKey::kName;
    case TokenOrderKey::kTimestamp:
      return RankedKey::kCreated;
    case TokenOrderKey::kProjectName:
      return RankedKey::kProjectName;
    case TokenOrderKey::kDescription:
      return RankedKey::kDescription;
    case TokenOrderKey::kLastUsedAt:
      return RankedKey::kLastUsed;
  }
  return RankedKey::kName;
}

}  // namespace

std::optional<Result<TokenPage>> SqliteStore::SearchInIndexOrder(Database& db,
                                                                 const TokenQuery& query,
                                                                 std::int64_t count,
                                                                 std::string* explain) {
  const RankedKey key = RankedKeyOf(query.order_key);
  const NameIndexUse use = name_index_use_;
  if (use == NameIndexUse::kNever || query.offset >= count) return std::nullopt;
  auto indexed = SyncNameIndex(db);
  if (!indexed) return std::unexpected(indexed.error());
  if (!*indexed) return std::nullopt;
  // The ranked orders: a walk that stops at the page's end, 12 bytes a token. Until they are
  // made, the name order can also come from a selection among the matches.
  if (name_index_.Ordered(query.organization_id, key) ||
      (use == NameIndexUse::kAlways && key == RankedKey::kName)) {
    if (query.order_key == TokenOrderKey::kStatus)
      return StatusOrderPage(db, query, count, explain);
    return RankedPage(db, query, count, key, explain);
  }
  // That selection, when it is cheaper than the SQL walk.
  if (query.order_key != TokenOrderKey::kName || !query.project_id.empty() ||
      count <= kSortInMemoryLimit || count > kNameIndexSortLimit) {
    return std::nullopt;
  }
  auto total =
      Count(db, CounterSql(TokenQuery{.organization_id = query.organization_id}, false, false),
            query, explain);
  if (!total) return std::unexpected(total.error());
  // The walk of the name index passes about this many entries to reach the page's last row.
  const std::int64_t walk =
      (query.offset + std::max<std::int64_t>(query.limit, 1)) * *total / count;
  if (count * kSelectiveShare > *total && walk <= kLongWalk) return std::nullopt;
  return SearchByNameIndex(db, query, explain);
}

std::optional<Result<TokenPage>> SqliteStore::RankedPage(Database& db, const TokenQuery& query,
                                                         std::int64_t count, RankedKey key,
                                                         std::string* explain) {
  auto search = NameSearchOf(db, query);
  if (!search) return std::unexpected(search.error());
  const NamePage page{query.descending, query.offset, query.limit, true, key};
  NameMatches matches =
      name_index_.Find(*search, std::numeric_limits<std::int64_t>::max() - 1, &page);
  // Only the name order has a way without its ranked order.
  if (!matches.walked && key != RankedKey::kName) return std::nullopt;
  if (explain) *explain += "in-memory name index: ranked order, rows by rowid\n";
  TokenPage found;
  found.count = count;
  return ReadRowids(db, query, matches.rowids, false, std::move(found), explain);
}

Result<TokenPage> SqliteStore::SearchByNameIndex(Database& db, const TokenQuery& query,
                                                 std::string* explain) {
  auto search = NameSearchOf(db, query);
  if (!search) return std::unexpected(search.error());
  // In name order the index sorts the matches itself and only the page's rows are read.
  const bool name_order = query.order_key == TokenOrderKey::kName;
  const NamePage name_page{query.descending, query.offset, query.limit};
  // Without a name filter every match is counted, as api_token_counts does.
  const std::int64_t bound =
      query.name_contains.empty() ? std::numeric_limits<std::int64_t>::max() - 1 : kNameCountBound;
  NameMatches matches = name_index_.Find(*search, bound, name_order ? &name_page : nullptr);

  TokenPage page;
  page.count = std::min(matches.count, bound);
  page.count_is_lower_bound = matches.count > bound;
  const bool by_rowid =
      !page.count_is_lower_bound && (name_order || std::ssize(matches.rowids) <= kReadByRowidLimit);
  if (explain) {
    *explain += "in-memory name index: " + std::to_string(page.count) +
                (page.count_is_lower_bound ? "+" : "") + " matches, rows " +
                (by_rowid ? "by rowid" : "through the sort index") + "\n";
  }
  if (query.offset >= page.count) return page;
  const std::string filters = TokenFilters(query, true);
  if (!by_rowid) {
    return ReadPage(
        db, query,
        std::string(" FROM api_tokens t INDEXED BY ") + OrderOf(query.order_key).index + filters,
        true, nullptr, std::move(page), explain);
  }
  return ReadRowids(db, query, matches.rowids, !name_order, std::move(page), explain);
}

Result<TokenPage> SqliteStore::ReadRowids(Database& db, const TokenQuery& query,
                                          const std::vector<std::int64_t>& rowids, bool paged,
                                          TokenPage page, std::string* explain) {
  std::string list = "[";
  for (std::int64_t rowid : rowids) {
    if (list.size() > 1) list += ',';
    list += std::to_string(rowid);
  }
  list += ']';
  return ReadPage(db, query,
                  " FROM api_tokens t NOT INDEXED" + TokenFilters(query, true) +
                      " AND t.rowid IN (SELECT value FROM json_each(?9))",
                  paged, &list, std::move(page), explain);
}

Result<NameSearch> SqliteStore::NameSearchOf(Database& db, const TokenQuery& query) {
  NameSearch search = NameSearchFor(query);
  if (!query.project_name_contains.empty()) {
    // The projects whose tokens TokenFilters' project name condition keeps.
    auto projects = db.Prepare(
        "SELECT id FROM projects WHERE organization_id = ?1 AND name LIKE ?6 ESCAPE '\\'");
    if (!projects) return std::unexpected(projects.error());
    BindSearch(**projects, query);
    search.project_ids.emplace();
    for (;;) {
      auto row = (*projects)->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      search.project_ids->push_back((*projects)->Text(0));
    }
  }
  return search;
}

Result<TokenPage> SqliteStore::StatusOrderPage(Database& db, const TokenQuery& query,
                                               std::int64_t count, std::string* explain) {
  // The status order is the name order within each status: the page is read status by status,
  // skipping whole statuses by their counts.
  std::vector<TokenStatus> statuses = query.statuses;
  if (statuses.empty())
    statuses = {TokenStatus::kActive, TokenStatus::kBlocked, TokenStatus::kRevoked};
  std::sort(statuses.begin(), statuses.end(),
            [](TokenStatus a, TokenStatus b) { return StoredCode(a) < StoredCode(b); });
  statuses.erase(std::unique(statuses.begin(), statuses.end()), statuses.end());
  if (query.descending) std::reverse(statuses.begin(), statuses.end());
  std::vector<std::int64_t> rowids;
  std::int64_t skip = query.offset;
  std::int64_t wanted = query.limit > 0 ? query.limit : std::numeric_limits<std::int64_t>::max();
  for (TokenStatus status : statuses) {
    if (wanted <= 0) break;
    TokenQuery group = query;
    group.statuses = {status};
    auto in_group = Count(db, CounterSql(group, true, true), group, explain);
    if (!in_group) return std::unexpected(in_group.error());
    if (skip >= *in_group) {
      skip -= *in_group;
      continue;
    }
    auto search = NameSearchOf(db, group);
    if (!search) return std::unexpected(search.error());
    const NamePage page{query.descending, skip, wanted, true};
    NameMatches matches =
        name_index_.Find(*search, std::numeric_limits<std::int64_t>::max() - 1, &page);
    rowids.insert(rowids.end(), matches.rowids.begin(), matches.rowids.end());
    wanted -= std::ssize(matches.rowids);
    skip = 0;
  }
  if (explain) *explain += "in-memory name index: status order, rows by rowid\n";
  TokenPage page;
  page.count = count;
  return ReadRowids(db, query, rowids, false, std::move(page), explain);
}

}  // namespace gatehouse
