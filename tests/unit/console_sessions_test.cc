#include "auth/console_sessions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

  TimeMs now_ = kStart;
};

// Issue 12, item 2: one organization's sign-ins never end another organization's sessions.
TEST_F(ConsoleSessionsTest, SignInsOfOneOrganizationNeverEndAnotherOrganizationsSessions) {
  ConsoleSessions sessions(kLifetime, ConsoleSessionLimits{3, 5, 1000});
  const std::string victim = Open(sessions, "victim-token", "victim-org");
  for (int i = 0; i < 200; ++i) Open(sessions, "token-" + std::to_string(i % 7), "attacker-org");
  EXPECT_TRUE(Live(sessions, victim));
  EXPECT_EQ(sessions.size(), 6u);  // the victim's one and the attacker organization's cap of 5
}

TEST_F(ConsoleSessionsTest, TokenCapEndsTheOldestSessionOfThatTokenOnly) {
  ConsoleSessions sessions(kLifetime, ConsoleSessionLimits{2, 100, 1000});
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
  ConsoleSessions sessions(kLifetime, ConsoleSessionLimits{10, 2, 1000});
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
  ConsoleSessions sessions(kLifetime, ConsoleSessionLimits{10, 10, 3});
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
  ConsoleSessions sessions(kLifetime);
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

}  // namespace
}  // namespace gatehouse
