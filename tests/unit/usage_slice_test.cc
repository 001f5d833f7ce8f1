#include "core/usage_slice.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

UsageLimit RequestsLimit(double hard, double used) {
  UsageLimit limit;
  limit.subscription = SubscriptionType::kFreemium;
  limit.unit = UsageUnit::kRequests;
  limit.hard_limit = hard;
  StartUsageLimit(limit, 1000);
  limit.used = used;
  SettleUsageLimitStatus(limit);
  return limit;
}

SliceRequest Ask(double used, double keep, double want) {
  return SliceRequest{1000, used, keep, want, false};
}

TEST(UsageSliceTest, ANodeAloneGetsEverythingUnreserved) {
  UsageLimit limit = RequestsLimit(100, 40);
  const SliceOutcome outcome = SettleSlice(limit, 0, {}, Ask(0, 0, 1), 2000);
  EXPECT_EQ(outcome.granted, 60);
  EXPECT_EQ(outcome.unreserved, 0);
}

TEST(UsageSliceTest, SharedSlicesAreAQuarterOfAFairShareAtMostAndOneAtLeast) {
  UsageLimit limit = RequestsLimit(100, 20);
  // Three nodes: at most 80 / 12 whatever the rate asks for.
  SliceOutcome outcome = SettleSlice(limit, 0, OtherSlices{10, 2}, Ask(0, 0, 50), 2000);
  EXPECT_DOUBLE_EQ(outcome.granted, 80.0 / 12);
  EXPECT_DOUBLE_EQ(outcome.unreserved, 80 - 10 - 80.0 / 12);
  // Near the end the slice shrinks to one request, never below.
  limit = RequestsLimit(100, 98);
  outcome = SettleSlice(limit, 0, OtherSlices{0, 2}, Ask(0, 0, 50), 2000);
  EXPECT_EQ(outcome.granted, 1);
  EXPECT_EQ(outcome.unreserved, 1);
}

TEST(UsageSliceTest, SettledUsageComesOutOfTheSliceAndAnExcessSliceIsGivenBack) {
  UsageLimit limit = RequestsLimit(100, 0);
  const SliceOutcome outcome = SettleSlice(limit, 30, OtherSlices{0, 1}, Ask(10, 0, 5), 2000);
  EXPECT_EQ(limit.used, 10);
  EXPECT_EQ(outcome.granted, 5);
  EXPECT_EQ(outcome.unreserved, 85);
}

TEST(UsageSliceTest, WhatTheNodeMaySpendInFlightIsNeverTakenBack) {
  UsageLimit limit = RequestsLimit(100, 0);
  const SliceOutcome outcome = SettleSlice(limit, 30, OtherSlices{70, 3}, Ask(10, 15, 1), 2000);
  EXPECT_EQ(outcome.granted, 15);
  // Not more than the node holds, though.
  limit = RequestsLimit(100, 0);
  EXPECT_EQ(SettleSlice(limit, 30, OtherSlices{70, 3}, Ask(10, 25, 1), 2000).granted, 20);
}

TEST(UsageSliceTest, NothingIsGrantedPastTheHardLimitAndCreditedUsageStillCounts) {
  UsageLimit limit = RequestsLimit(10, 9);
  const SliceOutcome outcome = SettleSlice(limit, 0, OtherSlices{1, 1}, Ask(2, 0, 4), 2000);
  EXPECT_EQ(limit.used, 11);
  EXPECT_EQ(limit.status, LimitStatus::kEmpty);
  EXPECT_EQ(outcome.granted, 0);
  EXPECT_EQ(outcome.unreserved, 0);
}

TEST(UsageSliceTest, ReleaseGivesBackEverythingAndAnEndedLimitGrantsNothing) {
  UsageLimit limit = RequestsLimit(100, 0);
  SliceRequest release = Ask(0, 0, 0);
  release.release = true;
  EXPECT_EQ(SettleSlice(limit, 30, {}, release, 2000).granted, 0);
  limit.status = LimitStatus::kCancelled;
  EXPECT_EQ(SettleSlice(limit, 30, {}, Ask(0, 0, 10), 2000).granted, 0);
}

TEST(UsageSliceTest, UsageOfAnEndedPeriodIsDroppedWhenThePeriodRolls) {
  UsageLimit limit;
  limit.subscription = SubscriptionType::kDaily;
  limit.unit = UsageUnit::kRequests;
  limit.hard_limit = 10;
  StartUsageLimit(limit, 1000);
  limit.used = 7;
  const TimeMs next_day = *limit.valid_until + 1;
  const SliceOutcome outcome =
      SettleSlice(limit, 2, {}, SliceRequest{1000, 3, 0, 1, false}, next_day);
  EXPECT_EQ(limit.valid_from, *PeriodContaining(SubscriptionType::kDaily, 1000).end);
  EXPECT_EQ(limit.used, 0);
  EXPECT_EQ(outcome.granted, 10);
}

TEST(UsageSliceTest, ACrossingIsClaimedOncePerPeriod) {
  UsageLimit limit = RequestsLimit(10, 0);
  EXPECT_TRUE(ClaimLimitCrossing(limit, false, limit.valid_from));
  EXPECT_FALSE(ClaimLimitCrossing(limit, false, limit.valid_from));
  EXPECT_TRUE(ClaimLimitCrossing(limit, true, limit.valid_from));
  EXPECT_FALSE(ClaimLimitCrossing(limit, true, limit.valid_from - 1));
}

}  // namespace
}  // namespace gatehouse
