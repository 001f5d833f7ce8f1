#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/ids.h"
#include "directory/token_directory.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

class TokenGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gatehouse-directory-" + std::to_string(::getpid()) + "-" + NewUuid());
    std::filesystem::create_directories(dir_);
    store_ = std::make_unique<SqliteStore>((dir_ / "test.db").string());
    directory_ = std::make_unique<TokenDirectory>(*store_, keyring_, cache_, clock_, true);
    organization_ = Organization{NewUuid(), "Acme", "", clock_.Now()};
    TokenCredential credential;
    owner_ = directory_->Mint(OrganizationSpec("Owner"), clock_.Now(), credential).token;
    ASSERT_TRUE(store_->CreateOrganization(organization_, owner_, credential));
    directory_->Publish(owner_, credential);
  }
  void TearDown() override {
    directory_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  TokenSpec OrganizationSpec(const std::string& name) {
    TokenSpec spec;
    spec.scope = TokenScope::kOrganization;
    spec.organization_id = organization_.id;
    spec.name = name;
    return spec;
  }

  std::filesystem::path dir_;
  SystemClock clock_;
  Keyring keyring_{Keyring::Key{}};
  TokenCache cache_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<TokenDirectory> directory_;
  Organization organization_;
  ApiToken owner_;
};

TEST_F(TokenGuardTest, LastUsableOrganizationTokenCannotBeBlockedRevokedOrExpired) {
  for (const TokenChange& change :
       {TokenChange{.status = TokenStatus::kBlocked}, TokenChange{.status = TokenStatus::kRevoked},
        TokenChange{.expires_at = std::optional<TimeMs>(500)}}) {
    auto refused = directory_->Update(organization_.id, owner_.id, change);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kLastOrganizationToken);
  }
  EXPECT_TRUE(cache_.FindById(owner_.id)->UsableAt(clock_.Now()));

  auto second = directory_->Create(OrganizationSpec("Second"));
  ASSERT_TRUE(second);
  auto blocked =
      directory_->Update(organization_.id, owner_.id, TokenChange{.status = TokenStatus::kBlocked});
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->status, TokenStatus::kBlocked);
  auto refused = directory_->Revoke(organization_.id, second->token.id);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kLastOrganizationToken);
}

TEST_F(TokenGuardTest, ATokenThatIsAlreadyUnusableMayBeRevokedWhateverRemains) {
  auto second = directory_->Create(OrganizationSpec("Second"));
  ASSERT_TRUE(second);
  ASSERT_TRUE(directory_->Update(organization_.id, second->token.id,
                                 TokenChange{.status = TokenStatus::kBlocked}));
  auto revoked = directory_->Revoke(organization_.id, second->token.id);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, TokenStatus::kRevoked);
  EXPECT_FALSE(cache_.FindById(second->token.id));
}

TEST_F(TokenGuardTest, AFutureExpiryOnTheLastTokenWithoutExpiryIsRefused) {
  const TimeMs now = clock_.Now();
  auto soon = OrganizationSpec("Soon");
  soon.expires_at = now + 3000;
  ASSERT_TRUE(directory_->Create(soon));
  for (const TokenChange& change :
       {TokenChange{.expires_at = std::optional<TimeMs>(now + 2000)},
        TokenChange{.expires_at = std::optional<TimeMs>(now + 365LL * 86400 * 1000)},
        TokenChange{.status = TokenStatus::kBlocked}}) {
    auto refused = directory_->Update(organization_.id, owner_.id, change);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kLastOrganizationToken);
  }
  EXPECT_FALSE(directory_->Find(organization_.id, owner_.id)->expires_at);
}

TEST_F(TokenGuardTest, AnExpiryMayBeBroughtForwardOnlyWhileAnotherTokenOutlastsIt) {
  // Organizations from before this rule may have only tokens that expire.
  const TimeMs now = clock_.Now();
  TokenCredential credential;
  auto spec = OrganizationSpec("Later");
  spec.expires_at = now + 60000;
  const ApiToken later = directory_->Mint(spec, now, credential).token;
  ASSERT_TRUE(store_->InsertToken(later, credential));
  // Written past the directory, as such an organization was left by older versions.
  ASSERT_TRUE(store_->ChangeToken(organization_.id, owner_.id,
                                  TokenChange{.expires_at = std::optional<TimeMs>(now + 30000)},
                                  now, TokenChangeCondition{}));
  // Bringing the owner's expiry forward is fine: "Later" outlasts it.
  EXPECT_TRUE(directory_->Update(organization_.id, owner_.id,
                                 TokenChange{.expires_at = std::optional<TimeMs>(now + 20000)}));
  // Bringing "Later" forward is not: nothing outlasts it.
  auto refused = directory_->Update(organization_.id, later.id,
                                    TokenChange{.expires_at = std::optional<TimeMs>(now + 50000)});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kLastOrganizationToken);
  // Moving it later is always allowed.
  EXPECT_TRUE(directory_->Update(organization_.id, later.id,
                                 TokenChange{.expires_at = std::optional<TimeMs>(now + 90000)}));
}

TEST_F(TokenGuardTest, ProjectTokensAreNotGuarded) {
  Project project{NewUuid(), organization_.id, "",          "Support", "", "",
                  true,      clock_.Now(),     clock_.Now()};
  TokenSpec spec = OrganizationSpec("Default");
  spec.scope = TokenScope::kProject;
  spec.project_id = project.id;
  TokenCredential credential;
  const ApiToken token = directory_->Mint(spec, clock_.Now(), credential).token;
  ASSERT_TRUE(store_->CreateProject(project, token, credential));
  EXPECT_TRUE(directory_->Revoke(organization_.id, token.id));
}

}  // namespace
}  // namespace gatehouse
