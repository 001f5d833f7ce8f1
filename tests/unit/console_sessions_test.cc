#include "auth/console_sessions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/session_cookie.h"

namespace gatehouse {
namespace {

constexpr TimeMs kStart = 1'700'000'000'000;
constexpr TimeMs kLifetime = 3600 * 1000;

class ConsoleSessionsTest : public ::testing::Test {
 protected:
  std::string Open(ConsoleSessions& sessions, const std::string& token,
                   const std::string& organization) {
    ConsoleSession session;
    auto cookie = sessions.Open(token, organization, "hash-" + token, now_, session);
    EXPECT_TRUE(cookie);
    now_ += 1;  // distinct creation times, so "oldest" is well defined
    return cookie.value_or("");
  }
  bool Live(ConsoleSessions& sessions, const std::string& cookie) {
    return sessions.Find(cookie, now_).has_value();
  }

  Keyring keyring_{Keyring::Key{7}};
  TimeMs now_ = kStart;
};

// Issue 12, item 2: one organization's sign-ins never end another organization's sessions.
TEST_F(ConsoleSessionsTest, SignInsOfOneOrganizationNeverEndAnotherOrganizationsSessions) {
  ConsoleSessions sessions(keyring_, kLifetime, ConsoleSessionLimits{3, 5, 1000});
  const std::string victim = Open(sessions, "victim-token", "victim-org");
  for (int i = 0; i < 200; ++i) Open(sessions, "token-" + std::to_string(i % 7), "attacker-org");
  EXPECT_TRUE(Live(sessions, victim));
  EXPECT_EQ(sessions.size(), 6u);  // the victim's one and the attacker organization's cap of 5
}

// A token that becomes usable again ends the sessions it had, also those another node opened
// (their cookies are all this node sees of them), and none opened after.
TEST_F(ConsoleSessionsTest, ATokensEndEndsItsSessionsOpenedUntilThenOnly) {
  ConsoleSessions here(keyring_, kLifetime);
  ConsoleSessions elsewhere(keyring_, kLifetime);
  const std::string own = Open(here, "t", "org");
  const std::string foreign = Open(elsewhere, "t", "org");
  const std::string other_token = Open(here, "u", "org");
  here.EndTokenSessions("t", now_);
  now_ += 1;
  const std::string later = Open(here, "t", "org");
  EXPECT_FALSE(Live(here, own));
  EXPECT_FALSE(Live(here, foreign));
  EXPECT_TRUE(Live(here, other_token));
  EXPECT_TRUE(Live(here, later));
  EXPECT_EQ(here.size(), 2u) << "the ended session left this node's caps";
}

// The shared form: the sign-out row another node stored ends the sessions the same way.
TEST_F(ConsoleSessionsTest, ATokensEndReadFromTheStoreEndsItsSessionsUntilItExpires) {
  ConsoleSessions sessions(keyring_, kLifetime);
  const std::string before = Open(sessions, "t", "org");
  const EndedSession end = TokenSessionsEnd("t", now_);
  EXPECT_TRUE(end.session_id.starts_with(kTokenSessionsPrefix));
  sessions.AddSignedOut(end.session_id, end.expires_at, now_);
  now_ += 1;
  const std::string after = Open(sessions, "t", "org");
  EXPECT_FALSE(Live(sessions, before));
  EXPECT_TRUE(Live(sessions, after));
  EXPECT_EQ(sessions.signed_out_size(), 0u) << "no session id was signed out";
  sessions.AddSignedOut("token:t:not-a-time", end.expires_at, now_);  // ignored
  EXPECT_TRUE(Live(sessions, after));
  sessions.Prune(end.expires_at);
  now_ = end.expires_at;
  EXPECT_FALSE(Live(sessions, before)) << "expired by then anyway";
}

TEST_F(ConsoleSessionsTest, TokenCapEndsTheOldestSessionOfThatTokenOnly) {
  ConsoleSessions sessions(keyring_, kLifetime, ConsoleSessionLimits{2, 100, 1000});
  const std::string other = Open(sessions, "other", "org");
  const std::string first = Open(sessions, "busy", "org");
  const std::string second = Open(sessions, "busy", "org");
  const std::string third = Open(sessions, "busy", "org");
  EXPECT_FALSE(Live(sessions, first));
  EXPECT_TRUE(Live(sessions, second));
  EXPECT_TRUE(Live(sessions, third));
  EXPECT_TRUE(Live(sessions, other));
}

TEST_F(ConsoleSessionsTest, OrganizationCapEndsTheOldestSessionOfThatOrganizationOnly) {
  ConsoleSessions sessions(keyring_, kLifetime, ConsoleSessionLimits{10, 2, 1000});
  const std::string elsewhere = Open(sessions, "x", "other-org");
  const std::string first = Open(sessions, "a", "org");
  const std::string second = Open(sessions, "b", "org");
  const std::string third = Open(sessions, "c", "org");
  EXPECT_FALSE(Live(sessions, first));
  EXPECT_TRUE(Live(sessions, second));
  EXPECT_TRUE(Live(sessions, third));
  EXPECT_TRUE(Live(sessions, elsewhere));
}

TEST_F(ConsoleSessionsTest, TotalCapRefusesNewSessionsAndEndsNone) {
  ConsoleSessions sessions(keyring_, kLifetime, ConsoleSessionLimits{10, 10, 3});
  std::vector<std::string> cookies;
  for (int i = 0; i < 3; ++i)
    cookies.push_back(Open(sessions, "t" + std::to_string(i), "o" + std::to_string(i)));
  ConsoleSession session;
  EXPECT_FALSE(sessions.Open("late", "late-org", "hash", now_, session));
  for (const auto& cookie : cookies) EXPECT_TRUE(Live(sessions, cookie));
  // Expired sessions make room.
  now_ += kLifetime;
  EXPECT_TRUE(sessions.Open("late", "late-org", "hash", now_, session));
  EXPECT_EQ(sessions.size(), 1u);
}

TEST_F(ConsoleSessionsTest, SessionRemembersTheHashOfTheSecretThatOpenedIt) {
  ConsoleSessions sessions(keyring_, kLifetime);
  ConsoleSession session;
  auto cookie = sessions.Open("token", "org", "the-hash", now_, session);
  ASSERT_TRUE(cookie);
  auto found = sessions.Find(*cookie, now_);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->secret_hash, "the-hash");
  EXPECT_EQ(found->organization_id, "org");
  EXPECT_EQ(found->expires_at, now_ + kLifetime);
  EXPECT_FALSE(sessions.Find(*cookie, now_ + kLifetime));
  EXPECT_EQ(sessions.size(), 0u);
}

// Issue 13: a cookie opened on one node works on any node holding the same master key.
TEST_F(ConsoleSessionsTest, CookieOpenedByAnotherNodeWithTheSameKeyIsAccepted) {
  ConsoleSessions node_a(keyring_, kLifetime);
  ConsoleSessions node_b(keyring_, kLifetime);
  ConsoleSession opened;
  auto cookie = node_a.Open("token", "org", "the-hash", now_, opened);
  ASSERT_TRUE(cookie);
  auto found = node_b.Find(*cookie, now_ + 1000);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->session_id, opened.session_id);
  EXPECT_EQ(found->token_id, "token");
  EXPECT_EQ(found->organization_id, "org");
  EXPECT_EQ(found->secret_hash, "the-hash");
  EXPECT_EQ(found->csrf_token, opened.csrf_token);
  EXPECT_EQ(node_b.size(), 0u) << "node B does not count another node's sessions in its caps";
}

TEST_F(ConsoleSessionsTest, CookieOfAnotherKeyOrAlteredOrExpiredIsRefused) {
  ConsoleSessions node_a(keyring_, kLifetime);
  const Keyring another_key(Keyring::Key{8});
  ConsoleSessions other_key(another_key, kLifetime);
  const std::string cookie = Open(node_a, "token", "org");
  EXPECT_FALSE(other_key.Find(cookie, now_));
  std::string altered = cookie;
  altered[cookie.size() / 2] = altered[cookie.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(node_a.Find(altered, now_));
  EXPECT_TRUE(node_a.Find(cookie, kStart + kLifetime - 1));
  EXPECT_FALSE(node_a.Find(cookie, kStart + kLifetime));
  ConsoleSessions node_b(keyring_, kLifetime);
  EXPECT_FALSE(node_b.Find(cookie, kStart + kLifetime));
}

TEST_F(ConsoleSessionsTest, SignedOutSessionIsRefusedAtOnceHereAndWhereverItsEndArrives) {
  ConsoleSessions node_a(keyring_, kLifetime);
  ConsoleSessions node_b(keyring_, kLifetime);
  ConsoleSession session;
  const std::string cookie = node_a.Open("token", "org", "hash", now_, session).value();
  ASSERT_TRUE(node_b.Find(cookie, now_));
  node_a.End(session);
  EXPECT_FALSE(node_a.Find(cookie, now_));
  EXPECT_EQ(node_a.size(), 0u);
  // What node A hands to the shared set, node B learns from it.
  const auto ended = node_a.TakeEnded();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].session_id, session.session_id);
  EXPECT_EQ(ended[0].expires_at, session.expires_at);
  EXPECT_TRUE(node_a.TakeEnded().empty());
  node_b.AddSignedOut(ended[0].session_id, ended[0].expires_at, now_);
  EXPECT_FALSE(node_b.Find(cookie, now_));
  // Other sessions of the same token go on.
  const std::string other = Open(node_a, "token", "org");
  EXPECT_TRUE(node_b.Find(other, now_));
}

TEST_F(ConsoleSessionsTest, SessionEndedByACapIsQueuedForTheSharedSet) {
  ConsoleSessions sessions(keyring_, kLifetime, ConsoleSessionLimits{1, 100, 1000});
  ConsoleSession first;
  const std::string cookie = sessions.Open("busy", "org", "hash", now_, first).value();
  Open(sessions, "busy", "org");
  EXPECT_FALSE(Live(sessions, cookie));
  const auto ended = sessions.TakeEnded();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].session_id, first.session_id);
}

TEST_F(ConsoleSessionsTest, EndedSessionsGivenBackAreTakenAgain) {
  ConsoleSessions sessions(keyring_, kLifetime);
  ConsoleSession session;
  sessions.Open("token", "org", "hash", now_, session);
  sessions.End(session);
  auto ended = sessions.TakeEnded();
  sessions.Requeue(std::move(ended));
  ASSERT_EQ(sessions.TakeEnded().size(), 1u);
}

TEST_F(ConsoleSessionsTest, OnlyASessionOpenedHereEndsWhenItsSecretIsUnknownHere) {
  ConsoleSessions node_a(keyring_, kLifetime);
  ConsoleSessions node_b(keyring_, kLifetime);
  ConsoleSession session;
  const std::string cookie = node_a.Open("token", "org", "hash", now_, session).value();
  node_b.EndIfOpenedHere(session);
  EXPECT_TRUE(node_b.Find(cookie, now_));
  EXPECT_TRUE(node_b.TakeEnded().empty());
  node_a.EndIfOpenedHere(session);
  EXPECT_FALSE(node_a.Find(cookie, now_));
  EXPECT_EQ(node_a.TakeEnded().size(), 1u);
}

TEST_F(ConsoleSessionsTest, SignOutsAreForgottenOnceTheirSessionsExpire) {
  ConsoleSessions sessions(keyring_, kLifetime);
  sessions.AddSignedOut("a", kStart + 10, kStart);
  sessions.AddSignedOut("b", kStart + 20, kStart);
  sessions.AddSignedOut("expired", kStart, kStart);
  EXPECT_EQ(sessions.signed_out_size(), 2u);
  sessions.Prune(kStart + 10);
  EXPECT_EQ(sessions.signed_out_size(), 1u);
  sessions.Prune(kStart + 20);
  EXPECT_EQ(sessions.signed_out_size(), 0u);
}

}  // namespace
}  // namespace gatehouse
