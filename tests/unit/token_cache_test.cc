#include "auth/token_cache.h"

#include <gtest/gtest.h>

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
  ASSERT_NE(cache.FindByHash("h1", 0), nullptr);
  EXPECT_EQ(cache.FindByHash("h1", 0)->id, "t1");
  EXPECT_EQ(cache.FindById("t1")->name, "name-t1");
  EXPECT_EQ(cache.FindByHash("h2", 0), nullptr);
  EXPECT_EQ(cache.NameOf("project"), "Support");
  EXPECT_EQ(cache.NameOf("org"), "Acme");
}

TEST(TokenCache, RevokedTokenIsRemoved) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("h1"));
  cache.Put(Token("t1", TokenStatus::kRevoked), Credential("h1"));
  EXPECT_EQ(cache.FindByHash("h1", 0), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCache, BlockedTokenIsFoundButNotUsable) {
  TokenCache cache;
  cache.Put(Token("t1", TokenStatus::kBlocked), Credential("h1"));
  auto token = cache.FindByHash("h1", 0);
  ASSERT_NE(token, nullptr);
  EXPECT_FALSE(token->UsableAt(0));
}

TEST(TokenCache, RotatedOutSecretWorksUntilItsGraceEnds) {
  TokenCache cache;
  cache.Put(Token("t1"), Credential("old"));
  cache.Put(Token("t1"), TokenCredential{"new", {}, std::string("old"), TimeMs{1000}});
  EXPECT_NE(cache.FindByHash("new", 5000), nullptr);
  EXPECT_NE(cache.FindByHash("old", 999), nullptr);
  EXPECT_EQ(cache.FindByHash("old", 1000), nullptr);
  cache.Put(Token("t1"), Credential("newer"));
  EXPECT_EQ(cache.FindByHash("new", 0), nullptr);
  EXPECT_EQ(cache.FindByHash("old", 0), nullptr);
}

TEST(TokenCache, ExpiredTokenIsNotUsable) {
  ApiToken token = Token("t1");
  token.expires_at = 100;
  TokenCache cache;
  cache.Put(token, Credential("h1"));
  EXPECT_TRUE(cache.FindByHash("h1", 99)->UsableAt(99));
  EXPECT_FALSE(cache.FindByHash("h1", 100)->UsableAt(100));
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
  EXPECT_EQ(cache.FindById("t1")->last_used_at.load(), 20);
}

}  // namespace gatehouse
