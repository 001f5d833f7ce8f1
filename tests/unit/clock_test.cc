#include "core/clock.h"

#include <gtest/gtest.h>

namespace gatehouse {

TEST(Clock, FormatsIsoUtcWithMillisecondsAndZ) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(1795807980123), "2026-11-27T19:33:00.123Z");
}

TEST(Clock, ParsesWhatItFormats) {
  for (TimeMs ms : {TimeMs{0}, TimeMs{951782400000}, TimeMs{1795807980123}}) {
    EXPECT_EQ(ParseTimestamp(FormatTimestamp(ms)), ms);
  }
}

TEST(Clock, AcceptsPlainDateAndTimeWithoutZoneAsUtc) {
  EXPECT_EQ(ParseTimestamp("2026-11-27"), ParseTimestamp("2026-11-27T00:00:00.000Z"));
  EXPECT_EQ(ParseTimestamp("2026-11-27T19:33:00"), ParseTimestamp("2026-11-27T19:33:00Z"));
  EXPECT_EQ(ParseTimestamp("2026-11-27T21:33:00+02:00"), ParseTimestamp("2026-11-27T19:33:00Z"));
}

TEST(Clock, RejectsImpossibleOrMalformedDates) {
  for (const char* text : {"2026-02-30", "2026-13-01", "26-11-27", "2026-11-27T25:00:00Z",
                           "2026-11-27X", "", "tomorrow", "2026-11-27T19:33:00.Z"}) {
    EXPECT_FALSE(ParseTimestamp(text).has_value()) << text;
  }
  EXPECT_TRUE(ParseTimestamp("2024-02-29").has_value());
}

}  // namespace gatehouse
