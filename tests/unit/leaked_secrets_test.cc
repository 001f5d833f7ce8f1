#include "directory/leaked_secrets.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/secret.h"
#include "directory_fixture.h"

namespace gatehouse {
namespace {

class LeakedSecretsTest : public DirectoryTest {
 protected:
  LeakedSecrets& leaks() {
    if (!leaks_) {
      leaks_ = std::make_unique<LeakedSecrets>(
          directories_->keyring, cache(), tokens(), clock_,
          [this](const std::string& organization_id, std::string body) {
            notices_.emplace_back(organization_id, std::move(body));
          });
    }
    return *leaks_;
  }
  LeakReport Report(std::vector<std::string> secrets, std::string address = "192.0.2.1") {
    return LeakReport{std::move(secrets), "github", "https://example.test/commit/1",
                      std::move(address)};
  }

  std::unique_ptr<LeakedSecrets> leaks_;
  std::vector<std::pair<std::string, std::string>> notices_;
};

TEST_F(LeakedSecretsTest, AValidSecretIsRevokedAtOnceAuditedAndNotified) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  auto outcomes = leaks().Report(Report({issued.secret}));
  ASSERT_TRUE(outcomes);
  ASSERT_EQ(outcomes->size(), 1u);
  EXPECT_TRUE((*outcomes)[0].revoked);
  EXPECT_EQ((*outcomes)[0].secret_prefix, issued.token.secret_prefix);
  EXPECT_FALSE(Usable(issued.secret, Now()));
  EXPECT_EQ(tokens().Find(acme_id(), issued.token.id)->status, TokenStatus::kRevoked);

  AuditQuery query;
  query.organization_id = acme_id();
  query.action = "token.leaked";
  auto audit = store().ListAudit(query);
  ASSERT_TRUE(audit);
  ASSERT_EQ(audit->entries.size(), 1u);
  EXPECT_EQ(audit->entries[0].target_id, issued.token.id);
  EXPECT_NE(audit->entries[0].details.find("\"source\":\"github\""), std::string::npos);
  EXPECT_NE(audit->entries[0].details.find("https://example.test/commit/1"), std::string::npos);
  EXPECT_EQ(audit->entries[0].remote_address, "192.0.2.1");

  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_EQ(notices_[0].first, acme_id());
  EXPECT_NE(notices_[0].second.find("\"event\":\"token.leaked\""), std::string::npos);
  EXPECT_EQ(notices_[0].second.find(issued.secret), std::string::npos);
}

TEST_F(LeakedSecretsTest, MalformedForeignRevokedAndUnknownSecretsAreAllUnknown) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken revoked = MakeProjectToken(project, "old");
  ASSERT_TRUE(tokens().Revoke(acme_id(), revoked.token.id));
  std::string broken_checksum = GenerateSecret(SecretKind::kProject);
  broken_checksum.back() = broken_checksum.back() == 'a' ? 'b' : 'a';
  auto outcomes =
      leaks().Report(Report({"hello world", "ghp_" + std::string(36, 'x'), broken_checksum,
                             revoked.secret, GenerateSecret(SecretKind::kProject)}));
  ASSERT_TRUE(outcomes);
  ASSERT_EQ(outcomes->size(), 5u);
  for (const auto& outcome : *outcomes) EXPECT_FALSE(outcome.revoked);
  EXPECT_EQ((*outcomes)[0].secret_prefix, "");
  EXPECT_EQ((*outcomes)[1].secret_prefix, "");
  EXPECT_EQ((*outcomes)[2].secret_prefix, broken_checksum.substr(0, kSecretPrefixLength));
  EXPECT_TRUE(notices_.empty());
}

TEST_F(LeakedSecretsTest, TheLastOrganizationTokenIsRevokedToo) {
  auto outcomes = leaks().Report(Report({acme_.token.secret}));
  ASSERT_TRUE(outcomes);
  EXPECT_TRUE((*outcomes)[0].revoked);
  EXPECT_FALSE(Usable(acme_.token.secret, Now()));
}

TEST_F(LeakedSecretsTest, AnAddressIsRefusedWith429AfterItsReportsPerMinute) {
  for (int i = 0; i < kLeakReportsPerMinute; ++i) {
    ASSERT_TRUE(leaks().Report(Report({"x"})));
  }
  auto refused = leaks().Report(Report({"x"}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kRateLimited);
  EXPECT_GT(refused.error().retry_after_seconds, 0);
  EXPECT_TRUE(leaks().Report(Report({"x"}, "192.0.2.2")));
  clock_.Advance(61'000);
  EXPECT_TRUE(leaks().Report(Report({"x"})));
}

TEST(ReportedPrefixTest, OnlyTheFirstEightCharactersOfSomethingSecretShaped) {
  EXPECT_EQ(ReportedPrefixOf("gtp_AbC1rest-of-it"), "gtp_AbC1");
  EXPECT_EQ(ReportedPrefixOf("gto_1234"), "gto_1234");
  EXPECT_EQ(ReportedPrefixOf("gtp_Ab"), "");
  EXPECT_EQ(ReportedPrefixOf("gtp_Ab-C1234"), "");
  EXPECT_EQ(ReportedPrefixOf("sk-proj-12345678"), "");
  EXPECT_EQ(ReportedPrefixOf("<script>alert(1)</script>"), "");
}

}  // namespace
}  // namespace gatehouse
