#include "store/store.h"

#include <condition_variable>
#include <mutex>

namespace gatehouse {

Status Store::InsertToken(const ApiToken& token, const TokenCredential& credential,
                          const AuditEntry* audit) {
  std::mutex mutex;
  std::condition_variable stored;
  std::optional<Status> outcome;
  TokenInsert insert{token, credential, audit ? std::optional<AuditEntry>(*audit) : std::nullopt};
  QueueTokenInsert(std::move(insert), [&](TokenInsert&, Status result) {
    std::lock_guard lock(mutex);
    outcome = std::move(result);
    stored.notify_one();
  });
  std::unique_lock lock(mutex);
  stored.wait(lock, [&] { return outcome.has_value(); });
  return *outcome;
}

}  // namespace gatehouse
