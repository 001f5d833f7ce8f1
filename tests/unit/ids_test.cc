#include "core/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse {
namespace {

// Lower-case 8-4-4-4-12 hex, version nibble 4, variant bits 10.
bool IsUuidV4(const std::string& id) {
  if (id.size() != 36) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = id[i];
    if (dash != (c == '-')) return false;
    if (!dash && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return id[14] == '4' && (id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

TEST(Ids, NewUuidAndNewRequestIdAreLowerCaseUuidsVersion4) {
  for (int i = 0; i < 1000; ++i) {
    const std::string uuid = NewUuid();
    const std::string request_id = NewRequestId();
    EXPECT_TRUE(IsUuidV4(uuid)) << uuid;
    EXPECT_TRUE(IsUuidV4(request_id)) << request_id;
  }
}

TEST(Ids, RequestIdsAreUniqueAcrossThreads) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      made[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) made[t].push_back(NewRequestId());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& ids : made) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), std::size_t{kThreads * kPerThread});
}

TEST(Ids, EveryRandomBitOfARequestIdVaries) {
  // 122 of the 128 bits are random: each hex digit but the version takes several values.
  std::vector<std::set<char>> seen(36);
  for (int i = 0; i < 2000; ++i) {
    const std::string id = NewRequestId();
    for (std::size_t at = 0; at < id.size(); ++at) seen[at].insert(id[at]);
  }
  for (std::size_t at = 0; at < seen.size(); ++at) {
    const bool fixed = at == 8 || at == 13 || at == 18 || at == 23 || at == 14;
    if (fixed) {
      EXPECT_EQ(seen[at].size(), 1u) << "position " << at;
    } else if (at == 19) {
      EXPECT_EQ(seen[at].size(), 4u) << "variant position";
    } else {
      EXPECT_EQ(seen[at].size(), 16u) << "position " << at;
    }
  }
}

}  // namespace
}  // namespace gatehouse
