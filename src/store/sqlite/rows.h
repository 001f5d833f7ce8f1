#ifndef GATEHOUSE_STORE_SQLITE_ROWS_H_
#define GATEHOUSE_STORE_SQLITE_ROWS_H_

#include <string>
#include <string_view>

#include "core/model.h"
#include "store/sqlite/database.h"
#include "store/store.h"

// Row readers and SQL text helpers shared by the SqliteStore source files.
namespace gatehouse::sqlite {

// The stored codes (store/store.h) as SQL literals, for SQL text that must name them (partial
// indexes, queries that must match a partial index's WHERE).
inline const std::string kSqlActive = std::to_string(StoredCode(TokenStatus::kActive));
inline const std::string kSqlBlocked = std::to_string(StoredCode(TokenStatus::kBlocked));
inline const std::string kSqlRevoked = std::to_string(StoredCode(TokenStatus::kRevoked));
inline const std::string kSqlOrganizationScope =
    std::to_string(StoredCode(TokenScope::kOrganization));
inline const std::string kSqlProjectScope = std::to_string(StoredCode(TokenScope::kProject));

// "SELECT " + kTokenColumns reads a token row (with its project and organization names) in the
// column order ReadToken and ReadCredential expect.
extern const std::string kTokenColumns;
// The same columns without the FROM clause and with an empty organization name (last), for
// queries over api_tokens alone (the caller fills organization_name).
extern const char* const kTokenFields;
inline constexpr int kTokenFieldCount = 20;  // columns in kTokenFields
extern const char* const kProjectColumns;

ApiToken ReadToken(const Statement& row);
TokenCredential ReadCredential(const Statement& row);
Project ReadProject(const Statement& row);
Organization ReadOrganization(const Statement& row);

// A LIKE pattern (with ESCAPE '\\') matching text that contains `text`.
std::string LikeContains(std::string_view text);
// How the console search sorts by one key: the index that serves it and the ORDER BY terms
// that walk that index. An explicit table (rows.cc), never the enum's numbers.
struct TokenOrder {
  TokenOrderKey key;
  const char* index;
  const char* terms[6];  // null-terminated
};
const TokenOrder& OrderOf(TokenOrderKey key);
// " ORDER BY a DESC, b DESC, ..." for `order`.
std::string OrderByClause(const TokenOrder& order, bool descending);

template <typename T>
Status Check(const Result<T>& result) {
  if (!result) return std::unexpected(result.error());
  return {};
}

}  // namespace gatehouse::sqlite

#endif  // GATEHOUSE_STORE_SQLITE_ROWS_H_
