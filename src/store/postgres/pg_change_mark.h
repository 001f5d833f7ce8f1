#ifndef GATEHOUSE_STORE_POSTGRES_PG_CHANGE_MARK_H_
#define GATEHOUSE_STORE_POSTGRES_PG_CHANGE_MARK_H_

#include <string_view>

namespace gatehouse::pg {

// Where a read of changed rows (tokens, console sign-outs, the name index) got to, as one SQL
// expression in milliseconds (PgStore::ChangeMark; the name index reads it with its rows).
//
// A change is stamped with the database's clock (changed_at_db) when it is written, but seen
// by others only when its transaction commits, which may be seconds later (a project deletion
// revoking 100,000 tokens): a reader that marked "now" meanwhile would start its next read
// after those stamps, overlap or not. So the mark is the start of the oldest transaction still
// writing in this database when that is earlier than now: every row such a transaction stamps
// is at or after its start. Read-only transactions (exports, listings) have no xid and do not
// hold it back. A transaction open for more than ten minutes (a forgotten psql session) no
// longer does either, so that reads do not grow without end. Sessions of other roles show no
// xact_start without pg_read_all_stats; the mark is then the clock alone.
inline constexpr std::string_view kChangeMarkSql =
    "(SELECT GREATEST(LEAST(clock.now_ms, COALESCE(clock.oldest_ms, clock.now_ms)), "
    "clock.now_ms - 600000) FROM (SELECT gatehouse_now_ms() AS now_ms, "
    "(SELECT (extract(epoch FROM min(xact_start)) * 1000)::bigint FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL "
    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()) AS oldest_ms) AS clock)";

}  // namespace gatehouse::pg

#endif  // GATEHOUSE_STORE_POSTGRES_PG_CHANGE_MARK_H_
