#include "auth/address_throttle.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse {
namespace {

constexpr TimeMs kStart = 1'700'000'000'000;

TEST(AddressThrottleTest, AddressIsClosedAfterItsFailuresUntilTheWindowEnds) {
  AddressThrottle throttle(AddressThrottleLimits{3, 60'000, 100});
  for (int i = 0; i < 2; ++i) throttle.RecordFailure("192.0.2.1", kStart + i);
  EXPECT_EQ(throttle.BlockedFor("192.0.2.1", kStart + 2), 0);
  throttle.RecordFailure("192.0.2.1", kStart + 2);
  EXPECT_EQ(throttle.BlockedFor("192.0.2.1", kStart + 2), 59'998);
  EXPECT_EQ(throttle.BlockedFor("192.0.2.2", kStart + 2), 0);
  EXPECT_EQ(throttle.BlockedFor("192.0.2.1", kStart + 60'000), 0);
}

TEST(AddressThrottleTest, IpV6AddressesOfOneSlash64CountTogether) {
  AddressThrottle throttle(AddressThrottleLimits{2, 60'000, 100});
  throttle.RecordFailure("2001:db8:1:2::1", kStart);
  throttle.RecordFailure("2001:db8:1:2:ffff::9", kStart);
  EXPECT_GT(throttle.BlockedFor("2001:db8:1:2::77", kStart), 0);
  EXPECT_EQ(throttle.BlockedFor("2001:db8:1:3::1", kStart), 0);
  EXPECT_EQ(ThrottleKeyOf("::ffff:192.0.2.9"), "192.0.2.9");
}

TEST(AddressThrottleTest, TableNeverGrowsBeyondItsBound) {
  AddressThrottle throttle(AddressThrottleLimits{2, 60'000, 10});
  for (int i = 0; i < 1000; ++i) throttle.RecordFailure("10.0.0." + std::to_string(i), kStart);
  EXPECT_EQ(throttle.tracked(), 10u);
  // Once windows end, the sweep makes room again.
  throttle.RecordFailure("10.9.9.9", kStart + 60'000);
  EXPECT_EQ(throttle.tracked(), 1u);
}

}  // namespace
}  // namespace gatehouse
