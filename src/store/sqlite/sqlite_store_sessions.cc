#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

// The console sign-outs part of SqliteStore.
namespace gatehouse {

using namespace sqlite;  // row readers and SQL helpers

Status SqliteStore::AddConsoleSignOuts(const std::vector<ConsoleSignOut>& sign_outs) {
  if (sign_outs.empty()) return {};
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "INSERT INTO console_signouts(session_id, expires_at, signed_out_at) VALUES (?, ?, ?) "
      "ON CONFLICT(session_id) DO NOTHING");
  if (!stmt) return std::unexpected(stmt.error());
  for (const ConsoleSignOut& sign_out : sign_outs) {
    auto done = (*stmt)
                    ->Bind(1, sign_out.session_id)
                    .Bind(2, sign_out.expires_at)
                    .Bind(3, sign_out.signed_out_at)
                    .Run();
    if (!done) return done;
    (*stmt)->Reset();
  }
  return transaction.Commit();
}

Status SqliteStore::ForEachConsoleSignOutSince(
    TimeMs since, const std::function<void(const ConsoleSignOut&)>& visit) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  auto stmt = (*reader)->Prepare(
      "SELECT session_id, expires_at, signed_out_at FROM console_signouts "
      "WHERE signed_out_at >= ?1");
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, since);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    const auto& r = **stmt;
    visit(ConsoleSignOut{r.Text(0), r.Int(1), r.Int(2)});
  }
}

Status SqliteStore::PruneConsoleSignOuts(TimeMs now) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  auto stmt = db_.Prepare("DELETE FROM console_signouts WHERE expires_at <= ?");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)->Bind(1, now).Run();
}

}  // namespace gatehouse
