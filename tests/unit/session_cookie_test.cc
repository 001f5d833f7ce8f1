#include "auth/session_cookie.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <string>

namespace gatehouse {
namespace {

constexpr TimeMs kExpiry = 1'700'000'000'000;

Keyring::Key KeyOf(unsigned char fill) {
  Keyring::Key key;
  key.fill(fill);
  return key;
}

ConsoleSession Session() {
  return ConsoleSession{"00112233445566778899aabbccddeeff",
                        "token-1",
                        "org-1",
                        std::string(32, '\x07'),
                        std::string(64, 'c'),
                        kExpiry};
}

// What SealSessionCookie writes around a sealed value, for values it did not seal.
std::string AsCookie(const std::string& sealed) {
  std::string out(4 * ((sealed.size() + 2) / 3) + 1, '\0');
  out.resize(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<const unsigned char*>(sealed.data()),
                             static_cast<int>(sealed.size())));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return std::string(kSessionCookiePrefix) + out;
}

TEST(SessionCookie, OpensToTheSessionItSealedUnderTheSameKey) {
  const Keyring keyring(KeyOf(1));
  const std::string cookie = SealSessionCookie(keyring, Session());
  EXPECT_TRUE(cookie.starts_with("s1."));
  EXPECT_EQ(cookie.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 3),
            std::string::npos)
      << "a cookie value needs no quoting";
  EXPECT_EQ(cookie.find("token-1"), std::string::npos);
  auto opened = OpenSessionCookie(keyring, cookie);
  ASSERT_TRUE(opened);
  const ConsoleSession expected = Session();
  EXPECT_EQ(opened->session_id, expected.session_id);
  EXPECT_EQ(opened->token_id, expected.token_id);
  EXPECT_EQ(opened->organization_id, expected.organization_id);
  EXPECT_EQ(opened->secret_hash, expected.secret_hash);
  EXPECT_EQ(opened->csrf_token, expected.csrf_token);
  EXPECT_EQ(opened->expires_at, expected.expires_at);
  // Another node with the same master key opens it too.
  EXPECT_TRUE(OpenSessionCookie(Keyring(KeyOf(1)), cookie));
  EXPECT_NE(SealSessionCookie(keyring, Session()), cookie) << "a fresh nonce each time";
}

TEST(SessionCookie, AnotherKeyCannotOpenIt) {
  const std::string cookie = SealSessionCookie(Keyring(KeyOf(1)), Session());
  EXPECT_FALSE(OpenSessionCookie(Keyring(KeyOf(2)), cookie));
}

TEST(SessionCookie, AnyFlippedCharacterMakesItUnopenable) {
  const Keyring keyring(KeyOf(1));
  const std::string cookie = SealSessionCookie(keyring, Session());
  for (std::size_t i = 0; i < cookie.size(); ++i) {
    std::string altered = cookie;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(OpenSessionCookie(keyring, altered)) << "character " << i;
  }
  EXPECT_FALSE(OpenSessionCookie(keyring, cookie.substr(0, cookie.size() - 1)));
  EXPECT_FALSE(OpenSessionCookie(keyring, cookie + "A"));
  EXPECT_FALSE(OpenSessionCookie(keyring, ""));
  EXPECT_FALSE(OpenSessionCookie(keyring, "s1."));
  EXPECT_FALSE(OpenSessionCookie(keyring, "s1.!!!!"));
  EXPECT_FALSE(OpenSessionCookie(keyring, "forged-value"));
}

TEST(SessionCookie, ASealedTokenSecretIsNotACookieNorACookieASealedSecret) {
  const Keyring keyring(KeyOf(1));
  // A token secret's sealed copy (what the store keeps for the console's Copy), dressed up as
  // a cookie, does not open as one.
  EXPECT_FALSE(OpenSessionCookie(keyring, AsCookie(keyring.Seal("gto_secret"))));
  // Nor does a payload of the right shape sealed without the cookie's context.
  const std::string cookie = SealSessionCookie(keyring, Session());
  std::string sealed_part = cookie.substr(3);
  for (char& c : sealed_part) c = c == '-' ? '+' : c == '_' ? '/' : c;
  sealed_part.append((4 - sealed_part.size() % 4) % 4, '=');
  std::string sealed(sealed_part.size() / 4 * 3, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(sealed.data()),
                                     reinterpret_cast<const unsigned char*>(sealed_part.data()),
                                     static_cast<int>(sealed_part.size()));
  ASSERT_GT(length, 0);
  sealed.resize(length - std::count(sealed_part.begin(), sealed_part.end(), '='));
  ASSERT_EQ(AsCookie(sealed), cookie) << "the test decodes what the cookie carries";
  // The cookie's sealed bytes do not open as a sealed secret either.
  EXPECT_FALSE(keyring.Open(sealed).has_value());
  const auto payload = keyring.Open(sealed, "gatehouse console session s1");
  ASSERT_TRUE(payload);
  EXPECT_FALSE(OpenSessionCookie(keyring, AsCookie(keyring.Seal(*payload))));
}

}  // namespace
}  // namespace gatehouse
