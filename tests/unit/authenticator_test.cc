#include "auth/authenticator.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "auth/secret.h"

namespace gatehouse {
namespace {

constexpr TimeMs kStart = 1'700'000'000'000;

std::string Base64(std::string_view text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int length =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(text.data()), text.size());
  out.resize(length);
  return out;
}

// An authenticator over a cache holding one organization and one project token.
class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest()
      : keyring_(Keyring::Key{7}),
        clock_(kStart),
        admin_secret_(GenerateSecret(SecretKind::kSystemAdmin)),
        authenticator_(keyring_, cache_, sessions_, clock_, keyring_.Hash(admin_secret_)) {
    organization_secret_ = AddToken("org-token", TokenScope::kOrganization);
    project_secret_ = AddToken("project-token", TokenScope::kProject);
  }

  std::string AddToken(const std::string& id, TokenScope scope,
                       TokenStatus status = TokenStatus::kActive,
                       std::optional<TimeMs> expires_at = std::nullopt) {
    const std::string secret = GenerateSecret(
        scope == TokenScope::kOrganization ? SecretKind::kOrganization : SecretKind::kProject);
    ApiToken token;
    token.id = id;
    token.organization_id = "org";
    token.project_id = scope == TokenScope::kProject ? "project" : "";
    token.scope = scope;
    token.name = id;
    token.status = status;
    token.expires_at = expires_at;
    cache_.Put(token, TokenCredential{keyring_.Hash(secret), {}, {}, {}});
    return secret;
  }

  Result<Principal> WithHeader(std::string header, Access access) {
    header_ = std::move(header);
    return authenticator_.Authorize(Credentials{header_}, access, SessionUse::kAllowed);
  }

  // Opens a console session for the organization token; returns its cookie value.
  std::string OpenSession(ConsoleSession& session) {
    auto signed_in = authenticator_.SignIn(organization_secret_, "127.0.0.1");
    EXPECT_TRUE(signed_in);
    session = signed_in->session;
    return signed_in->cookie;
  }

  // Publishes the organization token as a rotation leaves it: a new secret, and the old one
  // accepted for `grace_ms` more.
  std::string RotateOrganizationToken(TimeMs grace_ms) {
    const std::string fresh = GenerateSecret(SecretKind::kOrganization);
    ApiToken token;
    token.id = "org-token";
    token.organization_id = "org";
    token.scope = TokenScope::kOrganization;
    token.name = "org-token";
    cache_.Put(token, TokenCredential{keyring_.Hash(fresh),
                                      {},
                                      keyring_.Hash(organization_secret_),
                                      clock_.Now() + grace_ms});
    return fresh;
  }

  ErrorCode SessionReadCode(const std::string& cookie) {
    auto result = authenticator_.Authorize(Credentials{{}, cookie, {}, false},
                                           Access::kOrganization, SessionUse::kAllowed);
    return result ? ErrorCode::kInternal : result.error().code();
  }
  bool SessionWorks(const std::string& cookie) {
    return authenticator_
        .Authorize(Credentials{{}, cookie, {}, false}, Access::kOrganization, SessionUse::kAllowed)
        .has_value();
  }

  static ErrorCode CodeOf(const Result<Principal>& result) { return result.error().code(); }

  Keyring keyring_;
  ManualClock clock_;
  TokenCache cache_;
  ConsoleSessions sessions_{keyring_, 3600 * 1000};
  std::string admin_secret_;
  Authenticator authenticator_;
  std::string organization_secret_;
  std::string project_secret_;
  std::string header_;
};

TEST_F(AuthenticatorTest, BearerBasicAndBareHeadersAreAccepted) {
  for (const std::string& header : {"Bearer " + project_secret_, "bearer " + project_secret_,
                                    "Basic " + Base64(project_secret_ + ":"), project_secret_}) {
    auto principal = WithHeader(header, Access::kAnyToken);
    ASSERT_TRUE(principal) << header;
    EXPECT_EQ(principal->token->id(), "project-token");
  }
}

TEST_F(AuthenticatorTest, NoCredentialsIs401Id5) {
  auto principal = authenticator_.Authorize(Credentials{}, Access::kAnyToken, SessionUse::kAllowed);
  EXPECT_EQ(CodeOf(principal), ErrorCode::kApiKeyNotFound);
}

TEST_F(AuthenticatorTest, PublicRoutesReadNoCredentials) {
  auto principal = WithHeader("Bearer garbage", Access::kPublic);
  ASSERT_TRUE(principal);
  EXPECT_FALSE(principal->token);
}

TEST_F(AuthenticatorTest, MalformedUnknownAndUnreadableSecretsAre401Id6) {
  EXPECT_EQ(CodeOf(WithHeader("Bearer gtp_short", Access::kAnyToken)),
            ErrorCode::kTokenNotFoundOrBlocked);
  EXPECT_EQ(CodeOf(WithHeader("Bearer " + GenerateSecret(SecretKind::kProject), Access::kAnyToken)),
            ErrorCode::kTokenNotFoundOrBlocked);
  EXPECT_EQ(CodeOf(WithHeader("Basic !!!", Access::kAnyToken)), ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, BlockedTokenIsRejectedWith401Id6) {
  const auto secret = AddToken("blocked", TokenScope::kProject, TokenStatus::kBlocked);
  EXPECT_EQ(CodeOf(WithHeader("Bearer " + secret, Access::kAnyToken)),
            ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, ExpiryIsJudgedByTheInjectedClock) {
  const auto secret =
      AddToken("expiring", TokenScope::kProject, TokenStatus::kActive, kStart + 1000);
  EXPECT_TRUE(WithHeader("Bearer " + secret, Access::kAnyToken));
  clock_.Advance(1000);
  EXPECT_EQ(CodeOf(WithHeader("Bearer " + secret, Access::kAnyToken)),
            ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, WrongScopeIs403Id7) {
  EXPECT_EQ(CodeOf(WithHeader("Bearer " + project_secret_, Access::kOrganization)),
            ErrorCode::kOutOfScope);
  EXPECT_EQ(CodeOf(WithHeader("Bearer " + organization_secret_, Access::kProject)),
            ErrorCode::kOutOfScope);
  EXPECT_TRUE(WithHeader("Bearer " + organization_secret_, Access::kOrganization));
  EXPECT_TRUE(WithHeader("Bearer " + project_secret_, Access::kProject));
}

TEST_F(AuthenticatorTest, AdministratorRoutesAcceptOnlyTheAdministratorCredential) {
  auto admin = WithHeader("Bearer " + admin_secret_, Access::kSystemAdmin);
  ASSERT_TRUE(admin);
  EXPECT_TRUE(admin->system_admin);
  EXPECT_EQ(CodeOf(WithHeader("Bearer " + organization_secret_, Access::kSystemAdmin)),
            ErrorCode::kOutOfScope);
  EXPECT_EQ(CodeOf(WithHeader("Bearer " + GenerateSecret(SecretKind::kSystemAdmin),
                              Access::kSystemAdmin)),
            ErrorCode::kTokenNotFoundOrBlocked);
  // The administrator credential is no token anywhere else.
  EXPECT_EQ(CodeOf(WithHeader("Bearer " + admin_secret_, Access::kOrganization)),
            ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, SessionCookieActsAsItsOrganizationTokenForReads) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  auto principal = authenticator_.Authorize(Credentials{{}, cookie, {}, false},
                                            Access::kOrganization, SessionUse::kAllowed);
  ASSERT_TRUE(principal);
  EXPECT_EQ(principal->token->id(), "org-token");
  ASSERT_TRUE(principal->session);
  EXPECT_EQ(principal->session->csrf_token, session.csrf_token);
}

TEST_F(AuthenticatorTest, SessionStateChangeNeedsTheCsrfTokenOr403Id7) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  EXPECT_EQ(CodeOf(authenticator_.Authorize(Credentials{{}, cookie, {}, true},
                                            Access::kOrganization, SessionUse::kAllowed)),
            ErrorCode::kOutOfScope);
  EXPECT_EQ(CodeOf(authenticator_.Authorize(Credentials{{}, cookie, "wrong", true},
                                            Access::kOrganization, SessionUse::kAllowed)),
            ErrorCode::kOutOfScope);
  EXPECT_TRUE(authenticator_.Authorize(Credentials{{}, cookie, session.csrf_token, true},
                                       Access::kOrganization, SessionUse::kAllowed));
}

TEST_F(AuthenticatorTest, SessionRulesForScopesRefusalAndExpiry) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  const Credentials credentials{{}, cookie, {}, false};
  EXPECT_EQ(CodeOf(authenticator_.Authorize(credentials, Access::kProject, SessionUse::kAllowed)),
            ErrorCode::kOutOfScope);
  EXPECT_EQ(CodeOf(authenticator_.Authorize(credentials, Access::kAnyToken, SessionUse::kRefused)),
            ErrorCode::kApiKeyNotFound);
  EXPECT_EQ(
      CodeOf(authenticator_.Authorize(credentials, Access::kSystemAdmin, SessionUse::kAllowed)),
      ErrorCode::kApiKeyNotFound);
  EXPECT_EQ(CodeOf(authenticator_.Authorize(Credentials{{}, "forged", {}, false},
                                            Access::kOrganization, SessionUse::kAllowed)),
            ErrorCode::kApiKeyNotFound);
  clock_.Advance(3600 * 1000);
  EXPECT_EQ(
      CodeOf(authenticator_.Authorize(credentials, Access::kOrganization, SessionUse::kAllowed)),
      ErrorCode::kApiKeyNotFound);
}

TEST_F(AuthenticatorTest, SessionOfATokenNoLongerUsableIs401Id6) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  ApiToken blocked;
  blocked.id = "org-token";
  blocked.organization_id = "org";
  blocked.scope = TokenScope::kOrganization;
  blocked.status = TokenStatus::kBlocked;
  cache_.Put(blocked, TokenCredential{keyring_.Hash(organization_secret_), {}, {}, {}});
  EXPECT_EQ(CodeOf(authenticator_.Authorize(Credentials{{}, cookie, {}, false},
                                            Access::kOrganization, SessionUse::kAllowed)),
            ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, TheAuthorizationHeaderWinsOverTheCookie) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  header_ = "Bearer " + project_secret_;
  auto principal = authenticator_.Authorize(Credentials{header_, cookie, {}, false},
                                            Access::kAnyToken, SessionUse::kAllowed);
  ASSERT_TRUE(principal);
  EXPECT_EQ(principal->token->id(), "project-token");
}

TEST_F(AuthenticatorTest, ConsoleSessionRoutesReadOnlyTheCookie) {
  header_ = "Bearer " + organization_secret_;
  EXPECT_EQ(CodeOf(authenticator_.Authorize(Credentials{header_}, Access::kConsoleSession,
                                            SessionUse::kAllowed)),
            ErrorCode::kApiKeyNotFound);
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  EXPECT_TRUE(authenticator_.Authorize(Credentials{header_, cookie, {}, false},
                                       Access::kConsoleSession, SessionUse::kAllowed));
}

TEST_F(AuthenticatorTest, TokenOverItsRateLimitGets429Id9002WithRetryAfter) {
  ApiToken token;
  token.id = "limited";
  token.organization_id = "org";
  token.project_id = "project";
  token.name = "limited";
  token.rate_limit_per_minute = 2;
  const std::string secret = GenerateSecret(SecretKind::kProject);
  cache_.Put(token, TokenCredential{keyring_.Hash(secret), {}, {}, {}});
  const std::string header = "Bearer " + secret;
  const Credentials credentials{header};
  ASSERT_TRUE(authenticator_.Authorize(credentials, Access::kProject, SessionUse::kAllowed));
  clock_.Advance(15'000);
  ASSERT_TRUE(authenticator_.Authorize(credentials, Access::kProject, SessionUse::kAllowed));
  auto refused = authenticator_.Authorize(credentials, Access::kProject, SessionUse::kAllowed);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kRateLimited);
  EXPECT_EQ(refused.error().retry_after_seconds, 45);
  // Another token is not slowed.
  EXPECT_TRUE(WithHeader("Bearer " + project_secret_, Access::kProject));
  clock_.Advance(45'000);
  EXPECT_TRUE(authenticator_.Authorize(credentials, Access::kProject, SessionUse::kAllowed));
}

TEST_F(AuthenticatorTest, FailedAuthenticationsAreThrottledPerAddressNeverValidCallers) {
  const std::string bad = "Bearer " + GenerateSecret(SecretKind::kProject);
  auto attempt = [&](std::string_view header, std::string_view address) {
    Credentials credentials{header};
    credentials.remote_address = address;
    return authenticator_.Authorize(credentials, Access::kAnyToken, SessionUse::kAllowed);
  };
  for (int i = 0; i < kFailedAuthenticationsPerMinute; ++i) {
    EXPECT_EQ(CodeOf(attempt(bad, "10.0.0.1")), ErrorCode::kTokenNotFoundOrBlocked) << i;
  }
  auto throttled = attempt(bad, "10.0.0.1");
  EXPECT_EQ(CodeOf(throttled), ErrorCode::kRateLimited);
  EXPECT_GT(throttled.error().retry_after_seconds, 0);
  // Another address is not throttled, and a valid secret passes even from the throttled one.
  EXPECT_EQ(CodeOf(attempt(bad, "10.0.0.2")), ErrorCode::kTokenNotFoundOrBlocked);
  EXPECT_TRUE(attempt("Bearer " + project_secret_, "10.0.0.1"));
  clock_.Advance(60'000);
  EXPECT_EQ(CodeOf(attempt(bad, "10.0.0.1")), ErrorCode::kTokenNotFoundOrBlocked);
}

// Issue 12, item 1: a session lives only while the secret that opened it is accepted.
TEST_F(AuthenticatorTest, SessionEndsWhenItsSecretIsRotatedWithoutGrace) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  ASSERT_TRUE(SessionWorks(cookie));
  const std::string fresh = RotateOrganizationToken(0);
  EXPECT_EQ(SessionReadCode(cookie), ErrorCode::kTokenNotFoundOrBlocked);
  // The token itself goes on with its new secret; the ended session stays ended.
  EXPECT_TRUE(WithHeader("Bearer " + fresh, Access::kOrganization));
  EXPECT_EQ(SessionReadCode(cookie), ErrorCode::kApiKeyNotFound);
}

TEST_F(AuthenticatorTest, SessionLastsExactlyAsLongAsTheRotationGrace) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  RotateOrganizationToken(60'000);
  clock_.Advance(59'999);
  EXPECT_TRUE(SessionWorks(cookie));
  clock_.Advance(1);
  EXPECT_EQ(SessionReadCode(cookie), ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, SessionOpenedWithTheNewSecretSurvivesTheGraceOfTheOld) {
  const std::string fresh = RotateOrganizationToken(1000);
  auto signed_in = authenticator_.SignIn(fresh, "127.0.0.1");
  ASSERT_TRUE(signed_in);
  clock_.Advance(5000);
  EXPECT_TRUE(SessionWorks(signed_in->cookie));
}

TEST_F(AuthenticatorTest, SessionEndsWhenItsTokenIsRevoked) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  cache_.Remove("org-token");
  EXPECT_EQ(SessionReadCode(cookie), ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, SessionEndsForGoodWhenItsTokenIsBlocked) {
  ConsoleSession session;
  const std::string cookie = OpenSession(session);
  AddToken("org-token", TokenScope::kOrganization, TokenStatus::kBlocked);
  EXPECT_EQ(SessionReadCode(cookie), ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, SessionEndsWhenItsTokenExpires) {
  const std::string secret =
      AddToken("expiring", TokenScope::kOrganization, TokenStatus::kActive, kStart + 10'000);
  auto signed_in = authenticator_.SignIn(secret, "127.0.0.1");
  ASSERT_TRUE(signed_in);
  EXPECT_TRUE(SessionWorks(signed_in->cookie));
  clock_.Advance(10'000);
  EXPECT_EQ(SessionReadCode(signed_in->cookie), ErrorCode::kTokenNotFoundOrBlocked);
}

TEST_F(AuthenticatorTest, ProjectTokenCannotSignInWith403Id7) {
  EXPECT_EQ(authenticator_.SignIn(project_secret_, "127.0.0.1").error().code(),
            ErrorCode::kOutOfScope);
}

// Issue 12, item 10: /metrics optionally behind a bearer token.
TEST_F(AuthenticatorTest, MetricsRouteNeedsTheMetricsTokenOnlyWhenOneIsConfigured) {
  EXPECT_TRUE(authenticator_.Authorize(Credentials{}, Access::kMetrics, SessionUse::kRefused));
  const Authenticator guarded(keyring_, cache_, sessions_, clock_, "", "scrape-me");
  EXPECT_EQ(CodeOf(guarded.Authorize(Credentials{}, Access::kMetrics, SessionUse::kRefused)),
            ErrorCode::kApiKeyNotFound);
  for (const char* header : {"Bearer scrape-mE", "scrape-me", "Basic scrape-me", "Bearer "}) {
    EXPECT_EQ(
        CodeOf(guarded.Authorize(Credentials{header}, Access::kMetrics, SessionUse::kRefused)),
        ErrorCode::kTokenNotFoundOrBlocked)
        << header;
  }
  header_ = "Bearer " + organization_secret_;
  EXPECT_EQ(CodeOf(guarded.Authorize(Credentials{header_}, Access::kMetrics, SessionUse::kRefused)),
            ErrorCode::kTokenNotFoundOrBlocked);
  EXPECT_TRUE(
      guarded.Authorize(Credentials{"Bearer scrape-me"}, Access::kMetrics, SessionUse::kRefused));
}

// Issue 12, item 2: failed sign-ins close one address, not the others.
TEST_F(AuthenticatorTest, FailedSignInsThrottleTheirAddressOnlyWith429Id9002) {
  const std::string wrong = GenerateSecret(SecretKind::kOrganization);
  for (int i = 0; i < AddressThrottleLimits{}.failures; ++i) {
    EXPECT_EQ(authenticator_.SignIn(wrong, "192.0.2.7").error().code(),
              ErrorCode::kTokenNotFoundOrBlocked);
  }
  // Even the right secret waits: the address is closed, not the secret.
  EXPECT_EQ(authenticator_.SignIn(organization_secret_, "192.0.2.7").error().code(),
            ErrorCode::kRateLimited);
  EXPECT_EQ(authenticator_.SignInRetryAfterSeconds("192.0.2.7"), 60);
  EXPECT_TRUE(authenticator_.SignIn(organization_secret_, "192.0.2.8"));
  EXPECT_EQ(authenticator_.SignInRetryAfterSeconds("192.0.2.8"), 0);
  clock_.Advance(60'000);
  EXPECT_TRUE(authenticator_.SignIn(organization_secret_, "192.0.2.7"));
}

TEST_F(AuthenticatorTest, TokenUsedOutsideItsAllowedCidrsIs403AddressNotAllowed) {
  const std::string secret = GenerateSecret(SecretKind::kProject);
  ApiToken token;
  token.id = "fenced";
  token.organization_id = "org";
  token.project_id = "project";
  token.scope = TokenScope::kProject;
  token.permissions.allowed_cidrs = std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"};
  cache_.Put(token, TokenCredential{keyring_.Hash(secret), {}, {}, {}});
  auto from = [&](std::string_view address) {
    header_ = "Bearer " + secret;
    Credentials credentials{header_};
    credentials.remote_address = address;
    return authenticator_.Authorize(credentials, Access::kProject, SessionUse::kAllowed);
  };
  EXPECT_TRUE(from("10.9.8.7"));
  EXPECT_TRUE(from("::ffff:10.9.8.7"));
  EXPECT_TRUE(from("2001:db8::1"));
  EXPECT_EQ(CodeOf(from("192.0.2.1")), ErrorCode::kAddressNotAllowed);
  EXPECT_EQ(CodeOf(from("")), ErrorCode::kAddressNotAllowed);
  EXPECT_EQ(HttpStatusOf(ErrorCode::kAddressNotAllowed), 403);
  EXPECT_EQ(ErrorIdOf(ErrorCode::kAddressNotAllowed), 7);
  EXPECT_EQ(DescriptionOf(ErrorItem{ErrorCode::kAddressNotAllowed, {}}),
            "Address not allowed for this ApiToken");
  // An unrestricted token works from anywhere.
  header_ = "Bearer " + project_secret_;
  Credentials anywhere{header_};
  anywhere.remote_address = "192.0.2.1";
  EXPECT_TRUE(authenticator_.Authorize(anywhere, Access::kProject, SessionUse::kAllowed));
}

TEST_F(AuthenticatorTest, AddressRefusalsDoNotCountAsFailedAuthentications) {
  const std::string secret = GenerateSecret(SecretKind::kProject);
  ApiToken token;
  token.id = "nowhere";
  token.organization_id = "org";
  token.project_id = "project";
  token.scope = TokenScope::kProject;
  token.permissions.allowed_cidrs = std::vector<std::string>{};
  cache_.Put(token, TokenCredential{keyring_.Hash(secret), {}, {}, {}});
  header_ = "Bearer " + secret;
  Credentials credentials{header_};
  credentials.remote_address = "192.0.2.9";
  for (int i = 0; i < kFailedAuthenticationsPerMinute + 5; ++i) {
    EXPECT_EQ(CodeOf(authenticator_.Authorize(credentials, Access::kProject, SessionUse::kAllowed)),
              ErrorCode::kAddressNotAllowed);
  }
}

}  // namespace
}  // namespace gatehouse
