#ifndef GATEHOUSE_STORE_SQLITE_MIGRATIONS_H_
#define GATEHOUSE_STORE_SQLITE_MIGRATIONS_H_

#include "store/sqlite/database.h"

namespace gatehouse::sqlite {

// Applies, in order and each in its own transaction, every numbered migration newer than the
// database's schema version, up to `up_to` (0 = the latest; tests pass an older one to build
// a database as a previous release left it). Idempotent. Returns the resulting version.
Result<int> Migrate(Database& db, int up_to = 0);

}  // namespace gatehouse::sqlite

#endif  // GATEHOUSE_STORE_SQLITE_MIGRATIONS_H_
