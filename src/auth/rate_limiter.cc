#include "auth/rate_limiter.h"

#include <algorithm>
#include <vector>

namespace gatehouse {
namespace {

constexpr std::int64_t kWindowSeconds = 60;
constexpr std::size_t kPruneAbove = 10000;

std::int64_t SecondOf(TimeMs now) { return now >= 0 ? now / 1000 : (now - 999) / 1000; }

std::size_t SlotOf(std::int64_t second) {
  return static_cast<std::size_t>(((second % kWindowSeconds) + kWindowSeconds) % kWindowSeconds);
}

}  // namespace

std::int64_t SlidingMinuteCounter::Sum(const Window& window, std::int64_t now_second) {
  std::int64_t total = 0;
  for (std::size_t i = 0; i < window.counts.size(); ++i) {
    if (window.counts[i] && window.seconds[i] > now_second - kWindowSeconds &&
        window.seconds[i] <= now_second) {
      total += window.counts[i];
    }
  }
  return total;
}

void SlidingMinuteCounter::Put(Window& window, std::int64_t now_second) {
  const std::size_t slot = SlotOf(now_second);
  if (window.seconds[slot] != now_second) {
    window.seconds[slot] = now_second;
    window.counts[slot] = 0;
  }
  ++window.counts[slot];
}

void SlidingMinuteCounter::PruneLocked(std::int64_t now_second) {
  if (windows_.size() < kPruneAbove || pruned_at_ > now_second - kWindowSeconds) return;
  pruned_at_ = now_second;
  std::erase_if(windows_,
                [now_second](const auto& entry) { return Sum(entry.second, now_second) == 0; });
}

std::optional<int> SlidingMinuteCounter::Acquire(const std::string& key, std::int64_t limit,
                                                 TimeMs now) {
  const std::int64_t second = SecondOf(now);
  std::lock_guard lock(mutex_);
  PruneLocked(second);
  Window& window = windows_[key];
  const std::int64_t total = Sum(window, second);
  if (total < limit) {
    Put(window, second);
    return std::nullopt;
  }
  // The oldest seconds leave the window first: wait until enough of them have left.
  std::vector<std::pair<std::int64_t, std::uint32_t>> live;
  for (std::size_t i = 0; i < window.counts.size(); ++i) {
    if (window.counts[i] && window.seconds[i] > second - kWindowSeconds &&
        window.seconds[i] <= second) {
      live.emplace_back(window.seconds[i], window.counts[i]);
    }
  }
  std::sort(live.begin(), live.end());
  std::int64_t remaining = total;
  for (const auto& [at, count] : live) {
    remaining -= count;
    if (remaining < limit) {
      return static_cast<int>(std::max<std::int64_t>(1, at + kWindowSeconds - second));
    }
  }
  return static_cast<int>(kWindowSeconds);
}

void SlidingMinuteCounter::Add(const std::string& key, TimeMs now) {
  const std::int64_t second = SecondOf(now);
  std::lock_guard lock(mutex_);
  PruneLocked(second);
  Put(windows_[key], second);
}

std::int64_t SlidingMinuteCounter::CountAt(const std::string& key, TimeMs now) const {
  std::lock_guard lock(mutex_);
  auto found = windows_.find(key);
  return found == windows_.end() ? 0 : Sum(found->second, SecondOf(now));
}

}  // namespace gatehouse
