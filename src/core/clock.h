#ifndef GATEHOUSE_CORE_CLOCK_H_
#define GATEHOUSE_CORE_CLOCK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// Milliseconds since the Unix epoch, UTC. All stored times use this unit.
using TimeMs = std::int64_t;

TimeMs NowMs();

// "2026-11-27T19:33:00.123Z".
std::string FormatTimestamp(TimeMs ms);

// Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.fff][Z]" (no zone = UTC) and "+HH:MM" offsets.
// Returns nullopt for anything else, including impossible dates.
std::optional<TimeMs> ParseTimestamp(std::string_view text);

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_CLOCK_H_
