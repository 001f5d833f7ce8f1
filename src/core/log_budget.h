#ifndef GATEHOUSE_CORE_LOG_BUDGET_H_
#define GATEHOUSE_CORE_LOG_BUDGET_H_

#include <atomic>
#include <cstdint>

namespace gatehouse {

// Bounds the log lines of events that come at request rates when something is wrong (a provider
// that is down fails every call): at most `per_second` lines a second from every thread
// together; the next line let through is told how many were held back. Each line is a
// synchronous write to stderr, which an event loop must not make thousands of times a second.
// Lock-free; at the turn of a second a line or two more may pass.
class LogBudget {
 public:
  explicit LogBudget(std::int64_t per_second) : per_second_(per_second) {}

  // Whether a line may be written at `now_ms` (any steady count of milliseconds); when it may,
  // `held` is set to the lines held back since the last one let through.
  bool Take(std::int64_t now_ms, std::uint64_t& held) {
    const std::int64_t second = now_ms / 1000;
    std::int64_t current = second_.load(std::memory_order_relaxed);
    if (second > current && second_.compare_exchange_strong(current, second)) {
      used_.store(0, std::memory_order_relaxed);
    }
    if (used_.fetch_add(1, std::memory_order_relaxed) >= per_second_) {
      held_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    held = held_.exchange(0, std::memory_order_relaxed);
    return true;
  }

  std::int64_t per_second() const { return per_second_; }

 private:
  const std::int64_t per_second_;
  std::atomic<std::int64_t> second_{0};
  std::atomic<std::int64_t> used_{0};
  std::atomic<std::uint64_t> held_{0};
};

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_LOG_BUDGET_H_
