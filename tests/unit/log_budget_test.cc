#include "core/log_budget.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

TEST(LogBudget, LetsThroughAtMostItsLinesASecondAndTellsHowManyItHeldBack) {
  LogBudget budget(3);
  std::uint64_t held = 99;
  int passed = 0;
  for (int i = 0; i < 100; ++i) passed += budget.Take(5'000 + i, held) ? 1 : 0;
  EXPECT_EQ(passed, 3);
  EXPECT_EQ(held, 0u) << "nothing was held back before the first three";
  // The next second: the 97 held back are told with its first line.
  ASSERT_TRUE(budget.Take(6'000, held));
  EXPECT_EQ(held, 97u);
  ASSERT_TRUE(budget.Take(6'001, held));
  EXPECT_EQ(held, 0u);
}

TEST(LogBudget, AnEarlierTimeFromAnotherThreadStartsNoNewSecond) {
  LogBudget budget(1);
  std::uint64_t held = 0;
  EXPECT_TRUE(budget.Take(9'000, held));
  EXPECT_FALSE(budget.Take(8'999, held));
  EXPECT_FALSE(budget.Take(9'999, held));
  EXPECT_TRUE(budget.Take(10'000, held));
  EXPECT_EQ(held, 2u);
}

}  // namespace
}  // namespace gatehouse
