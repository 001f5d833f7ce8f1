#ifndef GATEHOUSE_STORE_POSTGRES_PG_ROWS_H_
#define GATEHOUSE_STORE_POSTGRES_PG_ROWS_H_

#include <string>

#include "core/model.h"
#include "store/postgres/pg_connection.h"
#include "store/store.h"

// Row readers and SQL text shared by the PgStore source files.
namespace gatehouse::pg {

// "SELECT " + kTokenColumns reads a token row with its organization's name, in the column
// order ReadToken and ReadCredential expect: kTokenFields (20 columns) + kTokenFrom.
extern const char* const kTokenFields;
extern const char* const kTokenFrom;
extern const std::string kTokenColumns;
ApiToken ReadToken(const Rows& rows, int row);
TokenCredential ReadCredential(const Rows& rows, int row);

// "SELECT " + kProjectColumns reads a project row.
extern const char* const kProjectColumns;
Project ReadProject(const Rows& rows, int row);
// "SELECT " + kOrganizationColumns reads an organization row.
extern const char* const kOrganizationColumns;
Organization ReadOrganization(const Rows& rows, int row);

// A LIKE pattern (with the default escape '\') matching text that contains `text`.
std::string LikeContains(std::string_view text);

// True when `failure` is a unique violation of the index or constraint `constraint`.
bool IsUniqueViolation(const Failure& failure, std::string_view constraint);

template <typename T>
Status Check(const Result<T>& result) {
  if (!result) return std::unexpected(result.error());
  return {};
}

}  // namespace gatehouse::pg

#endif  // GATEHOUSE_STORE_POSTGRES_PG_ROWS_H_
