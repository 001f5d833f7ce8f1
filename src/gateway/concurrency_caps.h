#ifndef GATEHOUSE_GATEWAY_CONCURRENCY_CAPS_H_
#define GATEHOUSE_GATEWAY_CONCURRENCY_CAPS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "config/config.h"

namespace gatehouse {

// Caps on concurrent upstream calls (the provider keys max_concurrent and
// max_concurrent_per_token, docs/architecture.md). Thread-safe.
class ConcurrencyCaps {
 public:
  class Slot;
  // A slot for one call of `token_id` to `provider`, or null when a cap is reached. The slot
  // frees itself when destroyed. A provider with neither cap gets a slot that counts nothing.
  std::shared_ptr<Slot> Acquire(const ProviderConfig& provider, const std::string& token_id);

 private:
  std::mutex mutex_;
  std::map<std::string, std::int64_t> per_provider_;                       // guarded
  std::map<std::pair<std::string, std::string>, std::int64_t> per_token_;  // guarded
};

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_CONCURRENCY_CAPS_H_
