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
namespace gatehouse {

using pg::Params;
using namespace pg;  // row readers and SQL helpers

namespace {

constexpr std::int64_t kNameCountBound = 10000;

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

}  // namespace

Result<TokenPage> PgStore::SearchTokens(const TokenQuery& query) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
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

  Params params;
  params.Text(query.organization_id);
  const std::string order = OrderByClause(query.order_key, query.descending);
  std::string chosen = "SELECT t.seq FROM api_tokens t" + TokenFilters(query, params, true) + order;
  if (query.limit > 0) chosen += " LIMIT " + std::to_string(query.limit);
  if (query.offset > 0) chosen += " OFFSET " + std::to_string(query.offset);
  auto rows = (*c)->Exec(std::string("SELECT ") + kTokenFields + " FROM (" + chosen +
                             ") page JOIN api_tokens t ON t.seq = page.seq"
                             " LEFT JOIN organizations o ON o.id = t.organization_id" +
                             order,
                         params);
  if (!rows) return std::unexpected(rows.error());
  page.tokens.reserve(rows->size());
  for (int i = 0; i < rows->size(); ++i) page.tokens.push_back(ReadToken(*rows, i));
  return page;
}

}  // namespace gatehouse
