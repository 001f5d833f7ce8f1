#ifndef GATEHOUSE_APP_CACHE_MAINTENANCE_H_
#define GATEHOUSE_APP_CACHE_MAINTENANCE_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "directory/console_sign_outs.h"
#include "directory/token_directory.h"

namespace gatehouse {

// Two threads. One, every `interval`, applies token changes made elsewhere (the CLI, other
// nodes) to the token cache, persists last-used times and (when given) exchanges console
// sign-outs with the store (usage limits settle on a thread of their own:
// UsageLimits::StartSettling).
// The other, at a lower priority (YieldToEventLoops), loads the store's token search index and
// keeps it current every `interval`: its load and first sorts take seconds at a million tokens,
// and a token blocked elsewhere must not wait for them to take effect here. The destructor
// stops both without waiting out the interval. `tokens` and `sign_outs` must outlive it.
class CacheMaintenance {
 public:
  CacheMaintenance(TokenDirectory& tokens, std::chrono::milliseconds interval,
                   ConsoleSignOuts* sign_outs = nullptr);
  ~CacheMaintenance();
  CacheMaintenance(const CacheMaintenance&) = delete;
  CacheMaintenance& operator=(const CacheMaintenance&) = delete;

  // Runs the token cache's sync (and the sign-outs') now rather than at the end of the
  // interval (another node changed tokens or signed a session out: Store::WatchTokenChanges).
  // Never blocks.
  void SyncSoon();

 private:
  void Run();
  void RunSearch();
  // Waits `interval_`, until stopping, or (with `early`) until *early is set, which it clears;
  // false when stopping.
  bool Wait(bool* early = nullptr);

  TokenDirectory& tokens_;
  ConsoleSignOuts* sign_outs_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;   // guarded by mutex_
  bool sync_soon_ = false;  // guarded by mutex_
  std::thread thread_;
  std::thread search_thread_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_APP_CACHE_MAINTENANCE_H_
