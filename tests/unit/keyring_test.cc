#include "auth/keyring.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.h"

namespace gatehouse {
namespace {

Keyring::Key KeyOf(unsigned char fill) {
  Keyring::Key key;
  key.fill(fill);
  return key;
}

}  // namespace

TEST(Keyring, HashIsDeterministicAndKeyed) {
  const Keyring a(KeyOf(1)), b(KeyOf(2));
  EXPECT_EQ(a.Hash("secret"), a.Hash("secret"));
  EXPECT_EQ(a.Hash("secret").size(), 32u);
  EXPECT_NE(a.Hash("secret"), a.Hash("secreT"));
  EXPECT_NE(a.Hash("secret"), b.Hash("secret"));
}

TEST(Keyring, SealedSecretOpensOnlyWithTheSameKeyAndUnaltered) {
  const Keyring a(KeyOf(1)), b(KeyOf(2));
  const std::string sealed = a.Seal("gtp_plaintext");
  EXPECT_EQ(sealed.find("gtp_plaintext"), std::string::npos);
  EXPECT_EQ(a.Open(sealed), "gtp_plaintext");
  EXPECT_FALSE(b.Open(sealed).has_value());
  std::string altered = sealed;
  altered[14] ^= 1;
  EXPECT_FALSE(a.Open(altered).has_value());
  EXPECT_FALSE(a.Open("short").has_value());
  EXPECT_NE(a.Seal("same"), a.Seal("same"));  // fresh nonce each time
}

TEST(Keyring, ConstantTimeEqualsComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(Keyring, LoadCreatesAPrivateKeyFileOnceAndReusesIt) {
  const TempDir dir;
  const auto file = dir.File("keys") / "master.key";
  const Keyring first = Keyring::Load(file);
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const Keyring second = Keyring::Load(file);
  EXPECT_EQ(first.Hash("x"), second.Hash("x"));
  std::ofstream(file) << "not hex";
  EXPECT_THROW(Keyring::Load(file), std::runtime_error);
}

}  // namespace gatehouse
