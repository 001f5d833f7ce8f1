#ifndef GATEHOUSE_STORE_SQLITE_ROWS_H_
#define GATEHOUSE_STORE_SQLITE_ROWS_H_

#include <string>
#include <string_view>

#include "core/model.h"
#include "store/sqlite/database.h"
#include "store/store.h"

// Row readers and SQL text helpers shared by the SqliteStore source files.
namespace gatehouse::sqlite {

inline constexpr std::int64_t kRevoked = static_cast<std::int64_t>(TokenStatus::kRevoked);

// "SELECT " + kTokenColumns reads a token row (with its project and organization names) in the
// column order ReadToken and ReadCredential expect.
extern const char* const kTokenColumns;
extern const char* const kProjectColumns;

ApiToken ReadToken(const Statement& row);
TokenCredential ReadCredential(const Statement& row);
Project ReadProject(const Statement& row);
Organization ReadOrganization(const Statement& row);

// A LIKE pattern (with ESCAPE '\\') matching text that contains `text`.
std::string LikeContains(std::string_view text);
// A trigram FTS5 phrase query that matches names containing `text`.
std::string TrigramPhrase(std::string_view text);
const char* OrderColumn(TokenOrderKey key);

template <typename T>
Status Check(const Result<T>& result) {
  if (!result) return std::unexpected(result.error());
  return {};
}

}  // namespace gatehouse::sqlite

#endif  // GATEHOUSE_STORE_SQLITE_ROWS_H_
