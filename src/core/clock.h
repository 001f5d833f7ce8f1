#ifndef GATEHOUSE_CORE_CLOCK_H_
#define GATEHOUSE_CORE_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// Milliseconds since the Unix epoch, UTC. All stored times use this unit.
using TimeMs = std::int64_t;

// The current time, injected wherever time decides something (expiry, grace periods, limit
// periods, session lifetimes), so that tests move time instead of sleeping. Implementations
// are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs Now() const = 0;
};

// The system's wall clock.
class SystemClock final : public Clock {
 public:
  TimeMs Now() const override;
};

// A clock that only moves when told to; for tests. Starts at `start`.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start) : now_(start) {}
  TimeMs Now() const override { return now_.load(std::memory_order_relaxed); }
  void Set(TimeMs now) { now_.store(now, std::memory_order_relaxed); }
  void Advance(TimeMs ms) { now_.fetch_add(ms, std::memory_order_relaxed); }

 private:
  std::atomic<TimeMs> now_;
};

// "2026-11-27T19:33:00.123Z".
std::string FormatTimestamp(TimeMs ms);
// The same text, written to `out` (kTimestampChars characters, no terminator), for callers
// that format many times in a loop. Years outside 0000–9999 need FormatTimestamp.
inline constexpr std::size_t kTimestampChars = 24;
void WriteTimestamp(TimeMs ms, char* out);

// Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.fff][Z]" (no zone = UTC) and "+HH:MM" offsets.
// Returns nullopt for anything else, including impossible dates.
std::optional<TimeMs> ParseTimestamp(std::string_view text);

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_CLOCK_H_
