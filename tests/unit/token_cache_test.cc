#include "auth/token_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse {
namespace {

ApiToken Token(const std::string& id, TokenStatus status = TokenStatus::kActive) {
  ApiToken token;
  token.id = id;
  token.organization_id = "org";
  token.organization_name = "Acme";
  token.project_id = "project";
  token.project_name = "Support";
  token.name = "name-" + id;
  token.status = status;
  return token;
}

TokenCredential Credential(const std::string& hash) { return TokenCredential{hash, {}, {}, {}}; }

}  // namespace

TEST(TokenCache, FindsATokenByTheHashOfItsSecretAndById) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("h1"));
  ASSERT_TRUE(cache.FindByHash("h1", 0));
  EXPECT_EQ(cache.FindByHash("h1", 0)->id(), "t1");
  EXPECT_EQ(cache.FindById("t1")->name(), "name-t1");
  EXPECT_FALSE(cache.FindByHash("h2", 0));
  EXPECT_EQ(cache.NameOf("project"), "Support");
  EXPECT_EQ(cache.NameOf("org"), "Acme");
}

TEST(TokenCache, UuidIdsAreHeldAsBytesAndComeBackAsTheSameText) {
  const std::string uuid = "0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
  const std::string upper = "0F8E2A4C-1B3D-4E5F-8A9B-0C1D2E3F4A5C";
  TokenCache cache;
  cache.Put(Token(uuid), Credential("h1"));
  cache.Put(Token(upper), Credential("h2"));
  EXPECT_EQ(cache.FindByHash("h1", 0)->id(), uuid);
  EXPECT_EQ(cache.FindById(uuid)->name(), "name-" + uuid);
  EXPECT_EQ(cache.FindByHash("h2", 0)->id(), upper);
  EXPECT_EQ(cache.FindById(upper)->name(), "name-" + upper);
  EXPECT_FALSE(cache.FindById("0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5c"));
}

TEST(TokenCache, TokensOfOneOwnerShareOneCopyOfItsIds) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("h1"));
  cache.Put(Token("t2"), Credential("h2"));
  ApiToken organization_token = Token("t3");
  organization_token.scope = TokenScope::kOrganization;
  organization_token.project_id.clear();
  organization_token.project_name.clear();
  cache.Put(organization_token, Credential("h3"));
  auto first = cache.FindById("t1");
  auto second = cache.FindById("t2");
  EXPECT_EQ(&first->organization_id(), &second->organization_id());
  EXPECT_EQ(&first->project_id(), &second->project_id());
  EXPECT_EQ(first->project_id(), "project");
  EXPECT_EQ(cache.FindById("t3")->organization_id(), "org");
  EXPECT_EQ(cache.FindById("t3")->project_id(), "");
  EXPECT_EQ(cache.FindById("t3")->scope, TokenScope::kOrganization);
}

TEST(TokenCache, RevokedTokenIsRemoved) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("h1"));
  cache.Put(Token("t1", TokenStatus::kRevoked), Credential("h1"));
  EXPECT_FALSE(cache.FindByHash("h1", 0));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCache, RemoveForgetsTheIdAndBothSecrets) {
  TokenCache cache;
  cache.Put(Token("t1"), TokenCredential{"new", {}, std::string("old"), TimeMs{1000}});
  cache.Put(Token("t2"), Credential("h2"));
  cache.Remove("t1");
  EXPECT_FALSE(cache.FindById("t1"));
  EXPECT_FALSE(cache.FindByHash("new", 0));
  EXPECT_FALSE(cache.FindByHash("old", 0));
  EXPECT_EQ(cache.FindByHash("h2", 0)->id(), "t2");
  EXPECT_EQ(cache.size(), 1u);
}

TEST(TokenCache, BlockedTokenIsFoundButNotUsable) {
  TokenCache cache;
  cache.Put(Token("t1", TokenStatus::kBlocked), Credential("h1"));
  auto token = cache.FindByHash("h1", 0);
  ASSERT_TRUE(token);
  EXPECT_FALSE(token->UsableAt(0));
}

TEST(TokenCache, RotatedOutSecretWorksUntilItsGraceEnds) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("old"));
  cache.Put(Token("t1"), TokenCredential{"new", {}, std::string("old"), TimeMs{1000}});
  EXPECT_TRUE(cache.FindByHash("new", 5000));
  EXPECT_EQ(cache.FindByHash("old", 999)->id(), "t1");
  EXPECT_FALSE(cache.FindByHash("old", 1000));
  cache.Put(Token("t1"), Credential("newer"));
  EXPECT_FALSE(cache.FindByHash("new", 0));
  EXPECT_FALSE(cache.FindByHash("old", 0));
  EXPECT_TRUE(cache.FindByHash("newer", 0));
}

TEST(TokenCache, ExpiredTokenIsNotUsable) {
  ApiToken token = Token("t1");
  token.expires_at = 100;
  TokenCache cache;
  cache.Put(token, Credential("h1"));
  EXPECT_TRUE(cache.FindByHash("h1", 99)->UsableAt(99));
  EXPECT_FALSE(cache.FindByHash("h1", 100)->UsableAt(100));
  token.expires_at.reset();
  cache.Put(token, Credential("h1"));
  EXPECT_TRUE(cache.FindByHash("h1", 100)->UsableAt(100));
}

TEST(TokenCache, RateLimitAndPermissionsFollowTheTokensChanges) {
  ApiToken token = Token("t1");
  token.rate_limit_per_minute = 60;
  token.permissions.allowed_models = std::vector<std::string>{"openai/gpt-4o"};
  TokenCache cache;
  cache.Put(token, Credential("h1"));
  cache.Put(Token("t2"), Credential("h2"));
  auto limited = cache.FindByHash("h1", 0);
  EXPECT_EQ(limited->rate_limit_per_minute, 60);
  ASSERT_TRUE(limited->permissions);
  EXPECT_FALSE(limited->permissions->AllowsModel("openai/o1"));
  EXPECT_FALSE(cache.FindByHash("h2", 0)->rate_limit_per_minute);
  EXPECT_FALSE(cache.FindByHash("h2", 0)->permissions);
  cache.Put(Token("t1"), Credential("h1"));
  EXPECT_FALSE(cache.FindByHash("h1", 0)->rate_limit_per_minute);
  EXPECT_FALSE(cache.FindByHash("h1", 0)->permissions);
}

TEST(TokenCache, ACopyKeepsItsNameAfterARename) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("h1"));
  auto before = cache.FindById("t1");
  ApiToken renamed = Token("t1");
  renamed.name = "renamed";
  cache.Put(renamed, Credential("h1"));
  EXPECT_EQ(cache.FindById("t1")->name(), "renamed");
  EXPECT_EQ(before->name(), "name-t1");
}

TEST(TokenCache, LastUsedTimesAreReportedOnceAndSurviveAnUpdate) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("h1"));
  auto token = cache.FindById("t1");
  cache.MarkUsed(*token, 10);
  cache.MarkUsed(*token, 20);
  auto used = cache.TakeLastUsed();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0], std::make_pair(std::string("t1"), TimeMs{20}));
  EXPECT_TRUE(cache.TakeLastUsed().empty());
  cache.Put(Token("t1"), Credential("h1"));
  EXPECT_EQ(cache.FindById("t1")->last_used_at, 20);
  cache.MarkUsed(*token, 30);
  EXPECT_EQ(cache.TakeLastUsed().at(0).second, 30);
}

// A flush gives back the uses it could not store (TokenDirectory::FlushUsage); a newer use
// recorded meanwhile must not be replaced by the older one.
TEST(TokenCache, AnEarlierUseNeverReplacesALaterOne) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("h1"));
  auto token = cache.FindById("t1");
  cache.MarkUsed(*token, 20);
  cache.MarkUsed(*token, 10);
  EXPECT_EQ(cache.TakeLastUsed().at(0).second, 20);
  cache.MarkUsed(*token, 15);  // after the flush too
  EXPECT_EQ(cache.TakeLastUsed().at(0).second, 20);
}

TEST(TokenCache, ACopyOfARemovedTokenDoesNotMarkTheTokenThatTakesItsPlace) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("h1"));
  auto removed = cache.FindById("t1");
  cache.MarkUsed(*removed, 10);
  cache.Remove("t1");
  cache.Put(Token("t2"), Credential("h2"));
  cache.MarkUsed(*removed, 20);
  EXPECT_TRUE(cache.TakeLastUsed().empty());
  EXPECT_EQ(cache.FindById("t2")->last_used_at, 0);
}

TEST(TokenCache, GrowsWithoutReserveAndKeepsEveryTokenThroughRemovals) {
  constexpr int kTokens = 20000;
  TokenCache cache;
  for (int i = 0; i < kTokens; ++i) {
    cache.Put(Token("t" + std::to_string(i)), Credential("hash-" + std::to_string(i)));
  }
  for (int i = 0; i < kTokens; i += 2) cache.Remove("t" + std::to_string(i));
  for (int i = 0; i < kTokens; i += 2) {
    cache.Put(Token("u" + std::to_string(i)), Credential("again-" + std::to_string(i)));
  }
  EXPECT_EQ(cache.size(), static_cast<std::size_t>(kTokens));
  for (int i = 0; i < kTokens; ++i) {
    const std::string n = std::to_string(i);
    if (i % 2 == 0) {
      ASSERT_FALSE(cache.FindByHash("hash-" + n, 0)) << n;
      ASSERT_EQ(cache.FindByHash("again-" + n, 0)->id(), "u" + n);
    } else {
      ASSERT_EQ(cache.FindByHash("hash-" + n, 0)->id(), "t" + n);
      ASSERT_EQ(cache.FindById("t" + n)->name(), "name-t" + n);
    }
  }
}

TEST(TokenCache, ReadersFindAStableTokenWhileWritersChangeOthers) {
  TokenCache cache;
  cache.Reserve(16);
  cache.Put(Token("stable"), Credential("stable-hash"));
  std::atomic<bool> done{false};
  std::atomic<int> misses{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        auto token = cache.FindByHash("stable-hash", 0);
        if (!token || token->id() != "stable" || token->name() != "name-stable") ++misses;
        if (token) cache.MarkUsed(*token, 5);
      }
    });
  }
  for (int i = 0; i < 20000; ++i) {
    cache.Put(Token("w" + std::to_string(i)), Credential("w-" + std::to_string(i)));
    if (i % 3 == 0) cache.Remove("w" + std::to_string(i / 2));
  }
  done = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(misses.load(), 0);
  auto used = cache.TakeLastUsed();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].first, "stable");
}

}  // namespace gatehouse
