#ifndef GATEHOUSE_STORE_SQLITE_MIGRATIONS_H_
#define GATEHOUSE_STORE_SQLITE_MIGRATIONS_H_

#include "store/sqlite/database.h"

namespace gatehouse::sqlite {

// Applies, in order and each in its own transaction, every numbered migration newer than the
// database's schema version. Idempotent. Returns the resulting version.
Result<int> Migrate(Database& db);

}  // namespace gatehouse::sqlite

#endif  // GATEHOUSE_STORE_SQLITE_MIGRATIONS_H_
