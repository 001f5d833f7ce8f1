#include "auth/secret.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace gatehouse {

TEST(Secret, HasPrefixBase62BodyAndChecksum) {
  const std::regex shape("gt[ops]_[0-9A-Za-z]{49}");
  for (auto kind : {SecretKind::kOrganization, SecretKind::kProject, SecretKind::kSystemAdmin}) {
    const std::string secret = GenerateSecret(kind);
    EXPECT_EQ(secret.size(), kSecretLength);
    EXPECT_TRUE(std::regex_match(secret, shape)) << secret;
    EXPECT_EQ(ParseSecret(secret), kind);
  }
  EXPECT_TRUE(GenerateSecret(SecretKind::kOrganization).starts_with("gto_"));
  EXPECT_TRUE(GenerateSecret(SecretKind::kProject).starts_with("gtp_"));
}

TEST(Secret, EveryGeneratedSecretIsDifferent) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(GenerateSecret(SecretKind::kProject));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Secret, AnyChangedCharacterFailsTheChecksum) {
  const std::string secret = GenerateSecret(SecretKind::kProject);
  for (std::size_t i = 4; i < secret.size(); ++i) {
    std::string altered = secret;
    altered[i] = altered[i] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(ParseSecret(altered).has_value()) << "position " << i;
  }
}

// The checksum's encoding never changes: secrets issued by earlier releases keep parsing.
// The vector is put together here (an ordered body, not a random one), so that no literal in
// the repository looks like an issued secret.
TEST(Secret, ASecretIssuedByAnEarlierReleaseStillParses) {
  const std::string body =
      std::string("gto_") + "0123456789" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "abcdefg";
  EXPECT_EQ(ParseSecret(body + "2sQKU4"), SecretKind::kOrganization);
  EXPECT_FALSE(ParseSecret(body + "2sQKU5"));
}

TEST(Secret, RejectsWrongPrefixLengthAndAlphabet) {
  const std::string secret = GenerateSecret(SecretKind::kProject);
  EXPECT_FALSE(ParseSecret("gtx_" + secret.substr(4)));
  EXPECT_FALSE(ParseSecret(secret.substr(0, secret.size() - 1)));
  EXPECT_FALSE(ParseSecret(secret + "0"));
  std::string with_dash = secret;
  with_dash[10] = '-';
  EXPECT_FALSE(ParseSecret(with_dash));
  EXPECT_FALSE(ParseSecret(""));
}

}  // namespace gatehouse
