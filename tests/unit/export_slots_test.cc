#include "usage/export_slots.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace gatehouse {

TEST(ExportSlots, ExportBeyondTheTokenBoundIs429Id9002WithRetryAfter) {
  ExportSlots slots(2, 8);
  auto first = slots.Acquire("token-a", "org-1");
  auto second = slots.Acquire("token-a", "org-1");
  ASSERT_TRUE(first && second);
  auto third = slots.Acquire("token-a", "org-1");
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code(), ErrorCode::kRateLimited);
  EXPECT_EQ(ErrorIdOf(third.error().code()), 9002);
  EXPECT_EQ(third.error().retry_after_seconds, kExportRetryAfterSeconds);
  EXPECT_TRUE(slots.Acquire("token-b", "org-1")) << "another token of the organization";
}

TEST(ExportSlots, ExportBeyondTheOrganizationBoundIsRefusedForEveryTokenOfIt) {
  ExportSlots slots(4, 3);
  std::vector<ExportSlots::Slot> held;
  for (const char* token : {"a", "b", "c"}) held.push_back(*slots.Acquire(token, "org-1"));
  EXPECT_FALSE(slots.Acquire("d", "org-1"));
  EXPECT_FALSE(slots.Acquire("a", "org-1"));
  EXPECT_TRUE(slots.Acquire("e", "org-2")) << "other organizations are not bounded by org-1";
  EXPECT_EQ(slots.InUse("org-1"), 3);
}

TEST(ExportSlots, DestroyingASlotGivesItBackOnce) {
  ExportSlots slots(1, 1);
  {
    auto slot = slots.Acquire("a", "org-1");
    ASSERT_TRUE(slot);
    ExportSlots::Slot moved = std::move(*slot);
    ExportSlots::Slot moved_again;
    moved_again = std::move(moved);
    EXPECT_FALSE(slots.Acquire("a", "org-1"));
    EXPECT_EQ(slots.InUse("org-1"), 1);
  }
  EXPECT_EQ(slots.InUse("org-1"), 0);
  EXPECT_TRUE(slots.Acquire("a", "org-1"));
}

}  // namespace gatehouse
