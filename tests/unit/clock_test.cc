#include "core/clock.h"

#include <gtest/gtest.h>

namespace gatehouse {

TEST(Clock, FormatsIsoUtcWithMillisecondsAndZ) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(1795807980123), "2026-11-27T19:33:00.123Z");
}

TEST(Clock, FormatsBeforeTheEpochAndClampsToFourDigitYears) {
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestamp(951782400000), "2000-02-29T00:00:00.000Z");
  // ParseTimestamp reads four-digit years: what is written must stay readable.
  EXPECT_EQ(FormatTimestamp(-62'167'219'200'000 - 1), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(253'402'300'800'000), "9999-12-31T23:59:59.999Z");
}

TEST(Clock, WriteTimestampWritesTheSameCharactersWithoutAllocating) {
  char out[kTimestampChars];
  for (TimeMs ms = -86'400'000; ms < 4'102'444'800'000; ms += 7'777'777'777) {
    WriteTimestamp(ms, out);
    EXPECT_EQ(std::string(out, kTimestampChars), FormatTimestamp(ms));
    EXPECT_EQ(ParseTimestamp(std::string_view(out, kTimestampChars)), ms);
  }
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
