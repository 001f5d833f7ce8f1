#ifndef GATEHOUSE_DIRECTORY_CONSOLE_SIGN_OUTS_H_
#define GATEHOUSE_DIRECTORY_CONSOLE_SIGN_OUTS_H_

#include <mutex>

#include "auth/console_sessions.h"
#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

namespace gatehouse {

// Keeps ConsoleSessions' signed-out set and the store's console_signouts table in step, so that
// a session ended on one node is refused on every node (docs/architecture.md "Console
// sessions"). Every method may block on the store: call them from the blocking pool, the
// maintenance thread or start-up, never from an event loop. Thread-safe; every reference must
// outlive it.
class ConsoleSignOuts {
 public:
  ConsoleSignOuts(Store& store, ConsoleSessions& sessions, const Clock& clock)
      : store_(store), sessions_(sessions), clock_(clock) {}
  ConsoleSignOuts(const ConsoleSignOuts&) = delete;
  ConsoleSignOuts& operator=(const ConsoleSignOuts&) = delete;

  // Reads every stored sign-out of a session not yet expired, and deletes the expired ones.
  Status Load();
  // Signs `session` out: refused on this node at once, before the store write; then stored
  // for every node with whatever else ended here meanwhile. When the store write fails the
  // sign-outs are kept for the next Sync, and the error is returned.
  Status SignOut(const ConsoleSession& session);
  // Stores the sessions ended here since the last write (caps, refused tokens), reads those
  // ended by other nodes since the last sync (with an overlap of a few seconds, as the token
  // cache's sync), and forgets expired ones; deletes expired rows at most once an hour.
  Status Sync();

 private:
  // Stores what ConsoleSessions ended here; on failure gives it back for the next try.
  Status WriteEnded();
  Status ReadSince(TimeMs since);

  Store& store_;
  ConsoleSessions& sessions_;
  const Clock& clock_;
  std::mutex sync_mutex_;    // one Load or Sync at a time
  TimeMs synced_until_ = 0;  // guarded by sync_mutex_
  TimeMs pruned_at_ = 0;     // guarded by sync_mutex_
};

}  // namespace gatehouse

#endif  // GATEHOUSE_DIRECTORY_CONSOLE_SIGN_OUTS_H_
