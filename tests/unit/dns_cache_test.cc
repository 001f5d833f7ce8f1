#include "http/dns_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace gatehouse {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

const Clock::time_point kStart{seconds(1000)};

TEST(DnsCache, AHostNeverLookedUpHasNoAnswerAndCallsWaitForALookup) {
  DnsCache<std::string> cache(seconds(30));
  const auto found = cache.Find("api.example:443", kStart);
  EXPECT_FALSE(found.answer);
  EXPECT_FALSE(found.refresh);
}

TEST(DnsCache, AFreshAnswerIsUsedWithoutALookup) {
  DnsCache<std::string> cache(seconds(30));
  cache.Store("api.example:443", "10.0.0.1", kStart);
  const auto found = cache.Find("api.example:443", kStart + seconds(29));
  EXPECT_EQ(found.answer, "10.0.0.1");
  EXPECT_FALSE(found.refresh);
}

TEST(DnsCache, AStaleAnswerIsStillUsedAndOneCallAsksForOneRefresh) {
  DnsCache<std::string> cache(seconds(30));
  cache.Store("api.example:443", "10.0.0.1", kStart);
  const auto first = cache.Find("api.example:443", kStart + seconds(30));
  EXPECT_EQ(first.answer, "10.0.0.1") << "a stale answer does not make a call wait";
  EXPECT_TRUE(first.refresh);
  const auto second = cache.Find("api.example:443", kStart + seconds(31));
  EXPECT_EQ(second.answer, "10.0.0.1");
  EXPECT_FALSE(second.refresh) << "one refresh at a time";
  cache.Store("api.example:443", "10.0.0.2", kStart + seconds(32));
  const auto refreshed = cache.Find("api.example:443", kStart + seconds(33));
  EXPECT_EQ(refreshed.answer, "10.0.0.2");
  EXPECT_FALSE(refreshed.refresh);
}

TEST(DnsCache, AFailedRefreshKeepsTheOldAnswerAndIsTriedAgainOneTtlLater) {
  DnsCache<std::string> cache(seconds(30));
  cache.Store("api.example:443", "10.0.0.1", kStart);
  ASSERT_TRUE(cache.Find("api.example:443", kStart + seconds(40)).refresh);
  cache.RefreshFailed("api.example:443", kStart + seconds(41));
  const auto soon = cache.Find("api.example:443", kStart + seconds(70));
  EXPECT_EQ(soon.answer, "10.0.0.1");
  EXPECT_FALSE(soon.refresh) << "no lookup storm while the name server fails";
  EXPECT_TRUE(cache.Find("api.example:443", kStart + seconds(71)).refresh);
}

TEST(DnsCache, HostsAreKeptApart) {
  DnsCache<std::string> cache(seconds(30));
  cache.Store("a.example:443", "10.0.0.1", kStart);
  EXPECT_FALSE(cache.Find("b.example:443", kStart).answer);
  EXPECT_FALSE(cache.Find("a.example:80", kStart).answer);
}

}  // namespace
}  // namespace gatehouse
