#include "auth/keyring.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

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

// Stored lookup hashes must stay what they were: HMAC-SHA256 under the key derived from the
// master key with the label "gatehouse secret lookup v1", computed here with OpenSSL's one-shot
// HMAC (the reference) for messages shorter and longer than one SHA-256 block.
TEST(Keyring, HashIsHmacSha256UnderTheDerivedLookupKey) {
  const Keyring::Key master = KeyOf(7);
  unsigned char lookup_key[32];
  unsigned int length = 0;
  const std::string label = "gatehouse secret lookup v1";
  HMAC(EVP_sha256(), master.data(), master.size(),
       reinterpret_cast<const unsigned char*>(label.data()), label.size(), lookup_key, &length);
  const Keyring keyring(master);
  for (std::size_t size : {0, 1, 51, 55, 56, 63, 64, 65, 119, 200}) {
    const std::string secret(size, static_cast<char>('a' + size % 26));
    std::string expected(32, '\0');
    HMAC(EVP_sha256(), lookup_key, sizeof lookup_key,
         reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
         reinterpret_cast<unsigned char*>(expected.data()), &length);
    EXPECT_EQ(keyring.Hash(secret), expected) << size;
  }
}

TEST(Keyring, HashGivesTheSameAnswerOnEveryThread) {
  const Keyring keyring(KeyOf(3));
  const std::string expected = keyring.Hash("gtp_shared");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) mismatches[t] += keyring.Hash("gtp_shared") != expected;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int count : mismatches) EXPECT_EQ(count, 0);
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

TEST(Keyring, ValueSealedForAContextOpensOnlyWithThatContext) {
  const Keyring keyring(KeyOf(1));
  const std::string for_cookies = keyring.Seal("payload", "context a");
  EXPECT_EQ(keyring.Open(for_cookies, "context a"), "payload");
  EXPECT_FALSE(keyring.Open(for_cookies, "context b").has_value());
  EXPECT_FALSE(keyring.Open(for_cookies).has_value());
  const std::string plain = keyring.Seal("payload");
  EXPECT_FALSE(keyring.Open(plain, "context a").has_value());
  EXPECT_EQ(keyring.Open(plain, ""), "payload");  // no context is the empty context
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
