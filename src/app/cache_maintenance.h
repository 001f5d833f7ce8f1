#ifndef GATEHOUSE_APP_CACHE_MAINTENANCE_H_
#define GATEHOUSE_APP_CACHE_MAINTENANCE_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "directory/token_directory.h"
#include "usage/usage_limits.h"

namespace gatehouse {

// A thread that loads the store's token search index, then, every `interval`, applies token
// changes made elsewhere (the CLI, other nodes) to the token cache and the search index, persists
// last-used times and (when given) usage-limit counters. The destructor stops it without waiting
// out the interval. `tokens` and `limits` must outlive it.
class CacheMaintenance {
 public:
  CacheMaintenance(TokenDirectory& tokens, std::chrono::milliseconds interval,
                   UsageLimits* limits = nullptr);
  ~CacheMaintenance();
  CacheMaintenance(const CacheMaintenance&) = delete;
  CacheMaintenance& operator=(const CacheMaintenance&) = delete;

 private:
  void Run();

  TokenDirectory& tokens_;
  UsageLimits* limits_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_APP_CACHE_MAINTENANCE_H_
