#ifndef GATEHOUSE_APP_CACHE_MAINTENANCE_H_
#define GATEHOUSE_APP_CACHE_MAINTENANCE_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "directory/token_directory.h"

namespace gatehouse {

// A thread that, every `interval`, applies token changes made elsewhere (the CLI, other nodes)
// to the token cache and persists last-used times. The destructor stops it without waiting
// out the interval. `tokens` must outlive it.
class CacheMaintenance {
 public:
  CacheMaintenance(TokenDirectory& tokens, std::chrono::milliseconds interval);
  ~CacheMaintenance();
  CacheMaintenance(const CacheMaintenance&) = delete;
  CacheMaintenance& operator=(const CacheMaintenance&) = delete;

 private:
  void Run();

  TokenDirectory& tokens_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_APP_CACHE_MAINTENANCE_H_
