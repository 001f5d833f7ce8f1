#ifndef GATEHOUSE_APP_CACHE_MAINTENANCE_H_
#define GATEHOUSE_APP_CACHE_MAINTENANCE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "directory/assistant_directory.h"
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
// stops both without waiting out the interval. When given `assistants` (a store shared by
// several nodes), the first thread also reloads the assistant catalog when the store reports
// a change of assistants (SyncSoon) and every kAssistantReload otherwise. `tokens`, `sign_outs` and
// `assistants` must outlive it.
class CacheMaintenance {
 public:
  static constexpr std::chrono::seconds kAssistantReload{30};

  CacheMaintenance(TokenDirectory& tokens, std::chrono::milliseconds interval,
                   ConsoleSignOuts* sign_outs = nullptr, AssistantDirectory* assistants = nullptr);
  ~CacheMaintenance();
  CacheMaintenance(const CacheMaintenance&) = delete;
  CacheMaintenance& operator=(const CacheMaintenance&) = delete;

  // Runs the token cache's sync (and the sign-outs' and the assistants') now rather than at the
  // end of the interval (another node changed tokens, assistants or signed a session out:
  // Store::WatchChanges).
  // Never blocks.
  void SyncSoon(StoreChange change = StoreChange::kTokens);

 private:
  void Run();
  void RunSearch();
  // Waits `interval_`, until stopping, or (with `early`) until *early is set, which it clears;
  // false when stopping.
  bool Wait(bool* early = nullptr);

  TokenDirectory& tokens_;
  ConsoleSignOuts* sign_outs_;
  AssistantDirectory* assistants_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;            // guarded by mutex_
  bool sync_soon_ = false;           // guarded by mutex_
  bool assistants_changed_ = false;  // guarded by mutex_
  std::thread thread_;
  std::thread search_thread_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_APP_CACHE_MAINTENANCE_H_
