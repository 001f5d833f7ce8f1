#include <limits>

#include "store/postgres/pg_change_mark.h"
#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"

// The console's token search (API.md §6) on PostgreSQL. Three things keep a page at a million
// tokens in milliseconds:
// * every sort key has an index in exactly its ORDER BY (ties: status, scope, project name,
//   storage order), so a page walks an index instead of sorting;
// * the page is chosen on that index alone (an index-only scan of `seq`s with the OFFSET), and
//   only its rows are read, so a deep page skips index entries rather than rows;
// * counts without a name filter add up api_token_counts; with one they stop at
//   kNameCountBound (docs/api-decisions.md), as on SQLite.
// A name filter is answered from the in-memory TokenNameIndex once it is loaded, as on SQLite:
// it counts the matches and finds them by scanning the names' text, so that only the page's
// rows are read. pg_trgm serves until then; it cannot serve 1–2 characters, and a rare longer
// text costs a heap visit per trigram candidate (docs/scaling.md). Each search first reads the
// tokens changed since the previous one (changed_at_db, the database's clock), so a change
// made on another node is in the next search.
namespace gatehouse {

using pg::Params;
using namespace pg;  // row readers and SQL helpers

namespace {

constexpr std::int64_t kNameCountBound = 10000;
// Up to this many name matches in another order than the name's are read by seq and sorted;
// more are found by walking the order's index.
constexpr std::int64_t kReadBySeqLimit = 2000;
constexpr int kLoadChunkRows = 10000;

const std::string kSqlProjectScope = std::to_string(StoredCode(TokenScope::kProject));

// The ORDER BY of each sort key, term by term as its index lists them (pg_migrations.cc).
struct TokenOrder {
  TokenOrderKey key;
  const char* terms[6];  // null-terminated
};

constexpr TokenOrder kTokenOrders[] = {
    {TokenOrderKey::kName, {"lower(t.name)", "t.status", "t.scope", "t.project_name", "t.seq"}},
    {TokenOrderKey::kDescription,
     {"lower(t.description)", "t.status", "t.scope", "t.project_name", "t.seq"}},
    {TokenOrderKey::kStatus, {"t.status", "lower(t.name)", "t.scope", "t.project_name", "t.seq"}},
    {TokenOrderKey::kProjectName, {"lower(t.project_name)", "t.status", "t.scope", "t.seq"}},
    {TokenOrderKey::kTimestamp, {"t.created_at", "t.status", "t.scope", "t.project_name", "t.seq"}},
    {TokenOrderKey::kLastUsedAt,
     {"t.last_used_at", "t.status", "t.scope", "t.project_name", "t.seq"}},
};

// Never used is the smallest last use, as on SQLite; every other key is NOT NULL, and its terms
// keep PostgreSQL's default NULLS placement, which is what lets a backward scan serve DESC.
std::string OrderByClause(TokenOrderKey key, bool descending) {
  const TokenOrder* order = &kTokenOrders[0];
  for (const auto& candidate : kTokenOrders) {
    if (candidate.key == key) order = &candidate;
  }
  std::string clause = " ORDER BY ";
  for (int i = 0; order->terms[i]; ++i) {
    if (i) clause += ", ";
    clause += order->terms[i];
    clause += descending ? " DESC" : " ASC";
    if (i == 0 && key == TokenOrderKey::kLastUsedAt) {
      clause += descending ? " NULLS LAST" : " NULLS FIRST";
    }
  }
  return clause;
}

// The filters of `query` as conditions on api_tokens t, their values appended to `params`
// (which holds the organization as $1 already).
std::string TokenFilters(const TokenQuery& query, Params& params, bool with_name) {
  auto next = [&params] { return "$" + std::to_string(params.size()); };
  std::string where = " WHERE t.organization_id = $1";
  if (query.scope) {
    params.Int(StoredCode(*query.scope));
    where += " AND t.scope = " + next();
  }
  if (!query.project_id.empty()) {
    params.Text(query.project_id);
    where += " AND t.project_id = " + next();
  }
  if (!query.project_name_contains.empty()) {
    params.Text(LikeContains(query.project_name_contains));
    where += " AND t.project_name ILIKE " + next() + " AND t.scope = " + kSqlProjectScope;
  }
  if (!query.statuses.empty()) {
    std::vector<std::int64_t> statuses;
    for (TokenStatus status : query.statuses) statuses.push_back(StoredCode(status));
    params.IntArray(statuses);
    where += " AND t.status = ANY(" + next() + "::smallint[])";
  }
  if (with_name && !query.name_contains.empty()) {
    params.Text(LikeContains(query.name_contains));
    where += " AND t.name ILIKE " + next();
  }
  return where;
}

// The sum of api_token_counts over the query's owner and status filters (no name filter).
std::string CounterSql(const TokenQuery& query, Params& params) {
  auto next = [&params] { return "$" + std::to_string(params.size()); };
  std::string sql =
      "SELECT COALESCE(SUM(c.tokens), 0) FROM api_token_counts c WHERE c.organization_id = $1";
  if (query.scope == TokenScope::kOrganization) sql += " AND c.project_id = ''";
  if (query.scope == TokenScope::kProject) sql += " AND c.project_id <> ''";
  if (!query.project_id.empty()) {
    params.Text(query.project_id);
    sql += " AND c.project_id = " + next();
  }
  if (!query.project_name_contains.empty()) {
    params.Text(LikeContains(query.project_name_contains));
    sql +=
        " AND c.project_id IN (SELECT id FROM projects WHERE organization_id = $1 AND name ILIKE " +
        next() + ")";
  }
  if (!query.statuses.empty()) {
    std::vector<std::int64_t> statuses;
    for (TokenStatus status : query.statuses) statuses.push_back(StoredCode(status));
    params.IntArray(statuses);
    sql += " AND c.status = ANY(" + next() + "::smallint[])";
  }
  return sql;
}

// The name index's reads of api_tokens: seq for rowid, changed_at_db for the change stamp.
class PgNameSource final : public NameIndexSource {
 public:
  explicit PgNameSource(Connection& c) : c_(c) {}

  // Not the clock alone: a transaction still writing may have stamped rows before it.
  Result<std::int64_t> NowMs() override {
    auto now = c_.Exec("SELECT " + std::string(kChangeMarkSql));
    if (!now) return std::unexpected(now.error());
    return now->Int(0, 0);
  }

  // In seq order, as the index appends its entries.
  Status ReadAll(const Visit& visit) override {
    return c_.ForEachChunk(std::string(kColumns) + " ORDER BY seq", Params(), kLoadChunkRows,
                           [&visit](const Rows& rows) { Read(rows, visit); });
  }

  // The mark first, in a statement of its own: read in the rows' statement it would be taken
  // after their snapshot, and a long transaction committing in between would be in neither.
  Result<std::int64_t> ReadChanged(std::int64_t since, std::int64_t after_rowid,
                                   const Visit& visit) override {
    static const std::string kChanged = std::string(kColumns) +
                                        " WHERE changed_at_db >= $1 UNION ALL " + kColumns +
                                        " WHERE seq > $2 AND changed_at_db < $1";
    auto mark = NowMs();
    if (!mark) return mark;
    auto rows = c_.Exec(kChanged, Params().Int(since).Int(after_rowid));
    if (!rows) return std::unexpected(rows.error());
    Read(*rows, visit);
    return *mark;
  }

 private:
  static constexpr const char* kColumns =
      "SELECT seq, organization_id, name, status, scope, COALESCE(project_id, ''), "
      "project_name, changed_at_db, created_at, description, last_used_at FROM api_tokens";

  // The rows' kColumns start at column `first`.
  static void Read(const Rows& rows, const Visit& visit, int first = 0) {
    NameIndexRow row;
    for (int i = 0; i < rows.size(); ++i) {
      row.rowid = rows.Int(i, first);
      row.organization_id.assign(rows.TextView(i, first + 1));
      row.name.assign(rows.TextView(i, first + 2));
      row.status = rows.Int(i, first + 3);
      row.scope = rows.Int(i, first + 4);
      row.project_id.assign(rows.TextView(i, first + 5));
      row.project_name.assign(rows.TextView(i, first + 6));
      row.updated_at = rows.Int(i, first + 7);
      row.created_at = rows.Int(i, first + 8);
      row.description.assign(rows.TextView(i, first + 9));
      row.last_used_at = rows.OptionalInt(i, first + 10);
      visit(row);
    }
  }

  Connection& c_;
};

}  // namespace

Result<bool> PgStore::SyncNameIndex(Connection& c) {
  PgNameSource source(c);
  return name_index_.Sync(source);
}

Status PgStore::RefreshSearchIndex() {
  if (!use_name_index_) return {};
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto synced = SyncNameIndex(**c);
  if (!synced) return std::unexpected(synced.error());
  return {};
}

Result<TokenPage> PgStore::SearchTokens(const TokenQuery& query) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  if (!query.name_contains.empty() && use_name_index_) {
    auto indexed = SyncNameIndex(**c);
    if (!indexed) return std::unexpected(indexed.error());
    if (*indexed) return SearchByNameIndex(**c, query);
  }
  TokenPage page;
  if (query.name_contains.empty()) {
    Params params;
    params.Text(query.organization_id);
    auto count = (*c)->Exec(CounterSql(query, params), params);
    if (!count) return std::unexpected(count.error());
    page.count = count->Int(0, 0);
  } else {
    Params params;
    params.Text(query.organization_id);
    auto count = (*c)->Exec("SELECT COUNT(*) FROM (SELECT 1 FROM api_tokens t" +
                                TokenFilters(query, params, true) + " LIMIT " +
                                std::to_string(kNameCountBound + 1) + ") matches",
                            params);
    if (!count) return std::unexpected(count.error());
    page.count = std::min(count->Int(0, 0), kNameCountBound);
    page.count_is_lower_bound = count->Int(0, 0) > kNameCountBound;
  }
  // With a bounded name count only the first kNameCountBound matches are reachable.
  if (query.offset >= page.count) return page;
  return ReadPage(**c, query, nullptr, true, std::move(page));
}

Result<TokenPage> PgStore::ReadPage(Connection& c, const TokenQuery& query,
                                    const std::vector<std::int64_t>* seqs, bool paged,
                                    TokenPage page) {
  Params params;
  params.Text(query.organization_id);
  const std::string order = OrderByClause(query.order_key, query.descending);
  std::string chosen = "SELECT t.seq FROM api_tokens t" + TokenFilters(query, params, true);
  if (seqs) {
    params.IntArray(*seqs);
    chosen += " AND t.seq = ANY($" + std::to_string(params.size()) + "::bigint[])";
  }
  chosen += order;
  if (paged && query.limit > 0) chosen += " LIMIT " + std::to_string(query.limit);
  if (paged && query.offset > 0) chosen += " OFFSET " + std::to_string(query.offset);
  auto rows = c.Exec(std::string("SELECT ") + kTokenFields + " FROM (" + chosen +
                         ") page JOIN api_tokens t ON t.seq = page.seq"
                         " LEFT JOIN organizations o ON o.id = t.organization_id" +
                         order,
                     params);
  if (!rows) return std::unexpected(rows.error());
  page.tokens.reserve(rows->size());
  for (int i = 0; i < rows->size(); ++i) page.tokens.push_back(ReadToken(*rows, i));
  return page;
}

Result<TokenPage> PgStore::SearchByNameIndex(Connection& c, const TokenQuery& query) {
  NameSearch search = NameSearchFor(query);
  if (!query.project_name_contains.empty()) {
    // The projects whose tokens TokenFilters' project name condition keeps.
    auto projects = c.Exec(
        "SELECT id FROM projects WHERE organization_id = $1 AND name ILIKE $2",
        Params().Text(query.organization_id).Text(LikeContains(query.project_name_contains)));
    if (!projects) return std::unexpected(projects.error());
    search.project_ids.emplace();
    for (int i = 0; i < projects->size(); ++i) search.project_ids->push_back(projects->Text(i, 0));
  }
  // In name order the index sorts the matches itself and only the page's rows are read.
  const bool name_order = query.order_key == TokenOrderKey::kName;
  const NamePage name_page{query.descending, query.offset, query.limit};
  NameMatches matches =
      name_index_.Find(search, kNameCountBound, name_order ? &name_page : nullptr);
  TokenPage page;
  page.count = std::min(matches.count, kNameCountBound);
  page.count_is_lower_bound = matches.count > kNameCountBound;
  if (query.offset >= page.count) return page;
  const bool by_seq =
      !page.count_is_lower_bound && (name_order || std::ssize(matches.rowids) <= kReadBySeqLimit);
  if (!by_seq) return ReadPage(c, query, nullptr, true, std::move(page));
  return ReadPage(c, query, &matches.rowids, !name_order, std::move(page));
}

}  // namespace gatehouse
