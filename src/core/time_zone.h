#ifndef GATEHOUSE_CORE_TIME_ZONE_H_
#define GATEHOUSE_CORE_TIME_ZONE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"

namespace gatehouse {

// An IANA time zone read from the system's compiled database (TZif files under
// /usr/share/zoneinfo, or $TZDIR), enough to place UTC instants in local days. Times after the
// file's last transition keep its last offset: Debian's files list transitions up to 2037.
class TimeZone {
 public:
  // "UTC" needs no file. Other names must look like an IANA name (letters, digits, '_', '+',
  // '-' and '/' between parts); 400 id 11 naming `field` when they do not or no file exists.
  static Result<TimeZone> Load(std::string_view name, std::string_view field = "timeZone");
  static TimeZone Utc() { return TimeZone(); }

  // The offset from UTC, in milliseconds, in force at `utc`.
  std::int64_t OffsetAt(TimeMs utc) const;
  // The UTC instant at which the local day containing `utc` begins.
  TimeMs StartOfDay(TimeMs utc) const;

  // True when the offset is zero at every instant (UTC, Etc/UTC, GMT): local days are UTC days.
  bool IsUtc() const;

  const std::string& name() const { return name_; }

 private:
  struct Transition {
    std::int64_t at_ms;  // UTC instant from which offset_ms applies
    std::int64_t offset_ms;
  };

  TimeZone() = default;
  // Parses TZif bytes; false when they are not a TZif file.
  bool Parse(std::string_view bytes);

  std::string name_ = "UTC";
  std::int64_t initial_offset_ms_ = 0;   // before the first transition
  std::vector<Transition> transitions_;  // by at_ms
};

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_TIME_ZONE_H_
