#include "store/postgres/pg_store.h"

// The console sign-outs part of PgStore: one table that every node reads, with the same
// notification as token changes so that the other nodes read it at once.
namespace gatehouse {

Status PgStore::AddConsoleSignOuts(const std::vector<ConsoleSignOut>& sign_outs) {
  if (sign_outs.empty()) return {};
  std::vector<std::string> ids;
  std::vector<std::int64_t> expiries;
  std::vector<std::int64_t> times;
  ids.reserve(sign_outs.size());
  expiries.reserve(sign_outs.size());
  times.reserve(sign_outs.size());
  for (const ConsoleSignOut& sign_out : sign_outs) {
    ids.push_back(sign_out.session_id);
    expiries.push_back(sign_out.expires_at);
    times.push_back(sign_out.signed_out_at);
  }
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  pg::Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  if (auto done = (*c)->Run("INSERT INTO console_signouts(session_id, expires_at, signed_out_at) "
                            "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) "
                            "ON CONFLICT (session_id) DO NOTHING",
                            pg::Params().TextArray(ids).IntArray(expiries).IntArray(times));
      !done) {
    return done;
  }
  if (auto done = NotifyChange(**c); !done) return done;
  return transaction.Commit();
}

Status PgStore::ForEachConsoleSignOutSince(
    TimeMs since, const std::function<void(const ConsoleSignOut&)>& visit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec(
      "SELECT session_id, expires_at, signed_out_at FROM console_signouts "
      "WHERE signed_out_at >= $1 OR signed_out_at_db >= $1",
      pg::Params().Int(since));
  if (!rows) return std::unexpected(rows.error());
  for (int row = 0; row < rows->size(); ++row) {
    visit(ConsoleSignOut{rows->Text(row, 0), rows->Int(row, 1), rows->Int(row, 2)});
  }
  return {};
}

Status PgStore::PruneConsoleSignOuts(TimeMs now) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return (*c)->Run("DELETE FROM console_signouts WHERE expires_at <= $1", pg::Params().Int(now));
}

}  // namespace gatehouse
