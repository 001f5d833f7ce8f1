#include "directory/console_sign_outs.h"

#include <algorithm>
#include <vector>

namespace gatehouse {
namespace {

// Re-read this much before the last sync: a sign-out committed late (a slow transaction) is
// still read. Nodes' clocks do not matter on PostgreSQL: the mark is the database's.
constexpr TimeMs kSyncOverlapMs = 5000;
constexpr TimeMs kPruneIntervalMs = 3600 * 1000;

}  // namespace

Status ConsoleSignOuts::Load() {
  std::lock_guard lock(sync_mutex_);
  const TimeMs started = clock_.Now();
  const auto mark = store_.ChangeMark(started);
  if (!mark) return std::unexpected(mark.error());
  if (auto read = ReadSince(0); !read) return read;
  synced_until_ = *mark;
  pruned_at_ = started;
  return store_.PruneConsoleSignOuts(started);
}

Status ConsoleSignOuts::SignOut(const ConsoleSession& session) {
  sessions_.End(session);
  return WriteEnded();
}

Status ConsoleSignOuts::Sync() {
  std::lock_guard lock(sync_mutex_);
  Status status = WriteEnded();
  const TimeMs started = clock_.Now();
  // The mark is the store's clock (Store::ChangeMark); expiries and pruning go by this node's.
  const auto mark = store_.ChangeMark(started);
  Status read = mark ? ReadSince(std::max<TimeMs>(synced_until_ - kSyncOverlapMs, 0))
                     : Status(std::unexpected(mark.error()));
  if (read) {
    synced_until_ = *mark;
  } else if (status) {
    status = read;
  }
  sessions_.Prune(started);
  if (started - pruned_at_ >= kPruneIntervalMs) {
    if (auto pruned = store_.PruneConsoleSignOuts(started); pruned) {
      pruned_at_ = started;
    } else if (status) {
      status = pruned;
    }
  }
  return status;
}

Status ConsoleSignOuts::WriteEnded() {
  std::vector<EndedSession> ended = sessions_.TakeEnded();
  if (ended.empty()) return {};
  const TimeMs now = clock_.Now();
  std::vector<ConsoleSignOut> rows;
  rows.reserve(ended.size());
  for (const EndedSession& session : ended) {
    rows.push_back(ConsoleSignOut{session.session_id, session.expires_at, now});
  }
  auto stored = store_.AddConsoleSignOuts(rows);
  if (!stored) sessions_.Requeue(std::move(ended));
  return stored;
}

Status ConsoleSignOuts::ReadSince(TimeMs since) {
  const TimeMs now = clock_.Now();
  return store_.ForEachConsoleSignOutSince(since, [&](const ConsoleSignOut& sign_out) {
    sessions_.AddSignedOut(sign_out.session_id, sign_out.expires_at, now);
  });
}

}  // namespace gatehouse
