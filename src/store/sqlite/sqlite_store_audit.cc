#include <limits>

#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

// The audit-trail part of SqliteStore.
namespace gatehouse {

using namespace sqlite;  // row readers and SQL helpers

Status SqliteStore::AppendAudit(const AuditEntry& entry) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  return AppendAuditLocked(entry);
}

Status SqliteStore::AppendAuditLocked(const AuditEntry& entry) {
  // Built once: every token creation appends an event. Never destroyed: the token writer
  // thread may still be storing while a process exits.
  static const std::string& kAppend = *new std::string(
      "INSERT INTO audit_log(at, organization_id, actor_token_id, action, target_id, actor_name, "
      "remote_address, target_name, target_type, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto stmt = db_.Prepare(kAppend);
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)
      ->Bind(1, entry.at)
      .Bind(2, entry.organization_id)
      .Bind(3, entry.actor_token_id)
      .Bind(4, entry.action)
      .Bind(5, entry.target_id)
      .Bind(6, entry.actor_name)
      .Bind(7, entry.remote_address)
      .Bind(8, entry.target_name)
      .Bind(9, entry.target_type)
      .Bind(10, entry.details)
      .Run();
}

Result<AuditPage> SqliteStore::ListAudit(const AuditQuery& query) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  const std::string where =
      " FROM audit_log WHERE organization_id = ?1 AND (?2 = '' OR action = ?2) "
      "AND (?3 = '' OR target_id = ?3) AND (?4 = '' OR actor_token_id = ?4) "
      "AND at >= ?5 AND at <= ?6";
  auto bind = [&](Statement& stmt) {
    stmt.Bind(1, query.organization_id)
        .Bind(2, query.action)
        .Bind(3, query.target_id)
        .Bind(4, query.actor_token_id)
        .Bind(5, query.start_ms.value_or(std::numeric_limits<std::int64_t>::min()))
        .Bind(6, query.end_ms.value_or(std::numeric_limits<std::int64_t>::max()));
  };
  AuditPage page;
  auto count = db.Prepare("SELECT COUNT(*)" + where);
  if (!count) return std::unexpected(count.error());
  bind(**count);
  auto counted = (*count)->Step();
  if (!counted) return std::unexpected(counted.error());
  page.count = (*count)->Int(0);
  auto stmt = db.Prepare(
      "SELECT id, organization_id, actor_token_id, action, target_id, at, actor_name, "
      "remote_address, target_name, target_type, details" +
      where + " ORDER BY at DESC, id DESC LIMIT ?7 OFFSET ?8");
  if (!stmt) return std::unexpected(stmt.error());
  bind(**stmt);
  (*stmt)->Bind(7, query.limit > 0 ? query.limit : -1).Bind(8, query.offset);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    const auto& r = **stmt;
    page.entries.push_back(AuditEntry{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4),
                                      r.Int(5), r.Text(6), r.Text(7), r.Text(8), r.Text(9),
                                      r.Text(10)});
  }
  return page;
}

}  // namespace gatehouse
