#include "auth/hash_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace gatehouse {
namespace {

// References are their own keys here.
auto Is(std::uint32_t key) {
  return [key](std::uint32_t reference) { return reference == key; };
}

TEST(HashIndex, FindsWhatWasInsertedAndNotWhatWasErased) {
  HashIndex index;
  EXPECT_EQ(index.Find(7, Is(1)), HashIndex::kNone);
  index.Insert(7, 1, Is(1));
  index.Insert(7, 2, Is(2));  // same hash, another key
  EXPECT_EQ(index.Find(7, Is(1)), 1u);
  EXPECT_EQ(index.Find(7, Is(2)), 2u);
  EXPECT_TRUE(index.Erase(7, 1));
  EXPECT_FALSE(index.Erase(7, 1));
  EXPECT_EQ(index.Find(7, Is(1)), HashIndex::kNone);
  EXPECT_EQ(index.Find(7, Is(2)), 2u);  // found past the erased entry
  EXPECT_EQ(index.size(), 1u);
}

TEST(HashIndex, InsertReplacesTheEntryOfAnEqualKey) {
  HashIndex index;
  index.Insert(3, 10, [](std::uint32_t) { return false; });
  EXPECT_EQ(index.Insert(3, 11, [](std::uint32_t reference) { return reference == 10; }), 10u);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Find(3, Is(11)), 11u);
  EXPECT_EQ(index.Find(3, Is(10)), HashIndex::kNone);
}

TEST(HashIndex, ReserveMakesRoomSoThatLoadingDoesNotGrow) {
  HashIndex index;
  index.Reserve(1000);
  const std::size_t capacity = index.capacity();
  EXPECT_GE(capacity * 7, 1000u * 10);
  for (std::uint32_t key = 0; key < 1000; ++key) index.Insert(key * 2654435761u, key, Is(key));
  EXPECT_EQ(index.capacity(), capacity);
  for (std::uint32_t key = 0; key < 1000; ++key) {
    ASSERT_EQ(index.Find(key * 2654435761u, Is(key)), key);
  }
}

TEST(HashIndex, ChurnOfInsertsAndErasesNeitherLosesEntriesNorGrowsWithoutBound) {
  HashIndex index;
  std::vector<std::uint32_t> live;
  for (std::uint32_t round = 0; round < 200; ++round) {
    for (std::uint32_t i = 0; i < 100; ++i) {
      const std::uint32_t key = round * 100 + i;
      index.Insert(key % 64, key, Is(key));  // 64 distinct hashes: long probe runs
    }
    for (std::uint32_t i = 0; i < 100; ++i) {
      const std::uint32_t key = round * 100 + i;
      if (i < 95) {
        ASSERT_TRUE(index.Erase(key % 64, key));
      } else {
        live.push_back(key);
      }
    }
  }
  EXPECT_EQ(index.size(), live.size());
  EXPECT_LE(index.capacity(), 4096u);  // 1,000 live entries; erased ones were dropped
  for (std::uint32_t key : live) ASSERT_EQ(index.Find(key % 64, Is(key)), key);
}

}  // namespace
}  // namespace gatehouse
