#ifndef GATEHOUSE_DIRECTORY_CONFLICT_RETRY_H_
#define GATEHOUSE_DIRECTORY_CONFLICT_RETRY_H_

#include "core/error.h"

namespace gatehouse {

// Runs `attempt` (a read, then a write the store takes only onto the state read) until it does
// not end in kConflict, at most three times: a change committed in between is read again.
template <typename Attempt>
auto RetryOnConflict(Attempt attempt) {
  constexpr int kAttempts = 3;
  for (int tried = 1;; ++tried) {
    auto outcome = attempt();
    if (outcome || outcome.error().code() != ErrorCode::kConflict || tried == kAttempts) {
      return outcome;
    }
  }
}

}  // namespace gatehouse

#endif  // GATEHOUSE_DIRECTORY_CONFLICT_RETRY_H_
