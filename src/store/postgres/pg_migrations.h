#ifndef GATEHOUSE_STORE_POSTGRES_PG_MIGRATIONS_H_
#define GATEHOUSE_STORE_POSTGRES_PG_MIGRATIONS_H_

#include "core/error.h"
#include "store/postgres/pg_connection.h"

namespace gatehouse::pg {

// The schema versions this binary knows.
int LatestSchemaVersion();

// Brings the database up to `up_to` (0 = the latest), each migration in its own transaction
// with its schema_migrations row, all under a session advisory lock so that several nodes
// starting at once apply each migration once. Refuses a database newer than this binary.
// Returns the version the database is at.
Result<int> Migrate(Connection& connection, int up_to = 0);

// Creates the monthly partitions of `requests` from the month before `around_ms` to
// `months_ahead` months after it (idempotent; serialized by an advisory lock).
Status EnsureRequestPartitions(Connection& connection, std::int64_t around_ms, int months_ahead);

}  // namespace gatehouse::pg

#endif  // GATEHOUSE_STORE_POSTGRES_PG_MIGRATIONS_H_
