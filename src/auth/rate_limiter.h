#ifndef GATEHOUSE_AUTH_RATE_LIMITER_H_
#define GATEHOUSE_AUTH_RATE_LIMITER_H_

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/clock.h"

namespace gatehouse {

// Counts events per key over a sliding minute, in one-second steps (API.md §6: per-token rate
// limits and failed authentications per address). Thread-safe; memory is bounded by the keys
// seen in the last minute.
class SlidingMinuteCounter {
 public:
  // Counts one event for `key` at `now` when fewer than `limit` happened in the minute before;
  // otherwise counts nothing and returns the whole seconds until one more would fit (≥ 1).
  std::optional<int> Acquire(const std::string& key, std::int64_t limit, TimeMs now);
  // Counts one event for `key` at `now` unconditionally.
  void Add(const std::string& key, TimeMs now);
  // Events of `key` in the minute up to `now`.
  std::int64_t CountAt(const std::string& key, TimeMs now) const;

 private:
  struct Window {
    // Slot i holds the count of second `seconds[i]` (i = second % 60).
    std::array<std::int64_t, 60> seconds{};
    std::array<std::uint32_t, 60> counts{};
  };

  static std::int64_t Sum(const Window& window, std::int64_t now_second);
  static void Put(Window& window, std::int64_t now_second);
  // Requires mutex_ held; drops windows idle for a minute once the map has grown.
  void PruneLocked(std::int64_t now_second);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;  // guarded by mutex_
  std::int64_t pruned_at_ = 0;                       // guarded by mutex_
};

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_RATE_LIMITER_H_
