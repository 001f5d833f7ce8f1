#include "auth/rate_limiter.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

TEST(SlidingMinuteCounterTest, AllowsTheLimitWithinAMinuteThenTellsWhenTheNextFits) {
  SlidingMinuteCounter counter;
  const TimeMs start = 1'700'000'000'000;
  EXPECT_FALSE(counter.Acquire("t", 3, start));
  EXPECT_FALSE(counter.Acquire("t", 3, start + 10'000));
  EXPECT_FALSE(counter.Acquire("t", 3, start + 20'000));
  // The first call leaves the window 60 s after it was made: 40 s from now.
  EXPECT_EQ(counter.Acquire("t", 3, start + 20'000), 40);
  EXPECT_EQ(counter.Acquire("t", 3, start + 59'000), 1);
  EXPECT_FALSE(counter.Acquire("t", 3, start + 60'000));
  EXPECT_EQ(counter.CountAt("t", start + 60'000), 3);
}

TEST(SlidingMinuteCounterTest, KeysAreIndependent) {
  SlidingMinuteCounter counter;
  const TimeMs now = 1'700'000'000'000;
  EXPECT_FALSE(counter.Acquire("a", 1, now));
  EXPECT_TRUE(counter.Acquire("a", 1, now));
  EXPECT_FALSE(counter.Acquire("b", 1, now));
}

TEST(SlidingMinuteCounterTest, RefusedAttemptsAreNotCounted) {
  SlidingMinuteCounter counter;
  const TimeMs now = 1'700'000'000'000;
  EXPECT_FALSE(counter.Acquire("a", 1, now));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(counter.Acquire("a", 1, now + i));
  EXPECT_EQ(counter.CountAt("a", now), 1);
  EXPECT_FALSE(counter.Acquire("a", 1, now + 60'000));
}

}  // namespace
}  // namespace gatehouse
