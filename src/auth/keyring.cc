#include "auth/keyring.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::size_t kNonceLength = 12;
constexpr std::size_t kTagLength = 16;

Keyring::Key Derive(const Keyring::Key& master, std::string_view label) {
  Keyring::Key out;
  unsigned int length = out.size();
  HMAC(EVP_sha256(), master.data(), master.size(),
       reinterpret_cast<const unsigned char*>(label.data()), label.size(), out.data(), &length);
  return out;
}

std::optional<Keyring::Key> ParseHexKey(std::string_view hex) {
  auto bytes = FromHex(Trim(hex));
  if (!bytes || bytes->size() != Keyring::Key().size()) return std::nullopt;
  Keyring::Key key;
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

DigestContext NewDigestContext() {
  DigestContext context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!context) throw std::runtime_error("cannot allocate a digest context");
  return context;
}

}  // namespace

// HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)); K is one 32-byte key, shorter than SHA-256's
// 64-byte block, so each pad is one block whose hash state can be kept and copied per message.
// OpenSSL's one-shot HMAC() looks the digest up by name and builds a MAC context on every call,
// which cost 8 % of a validate call.
class Keyring::HmacPads {
 public:
  explicit HmacPads(const Key& key)
      : digest_(EVP_MD_fetch(nullptr, "SHA256", nullptr), EVP_MD_free),
        inner_(NewDigestContext()),
        outer_(NewDigestContext()) {
    if (!digest_) throw std::runtime_error("SHA-256 is not available from OpenSSL");
    std::array<unsigned char, 64> inner_pad, outer_pad;
    inner_pad.fill(0x36);
    outer_pad.fill(0x5c);
    for (std::size_t i = 0; i < key.size(); ++i) {
      inner_pad[i] ^= key[i];
      outer_pad[i] ^= key[i];
    }
    const bool ready = EVP_DigestInit_ex2(inner_.get(), digest_.get(), nullptr) == 1 &&
                       EVP_DigestUpdate(inner_.get(), inner_pad.data(), inner_pad.size()) == 1 &&
                       EVP_DigestInit_ex2(outer_.get(), digest_.get(), nullptr) == 1 &&
                       EVP_DigestUpdate(outer_.get(), outer_pad.data(), outer_pad.size()) == 1;
    OPENSSL_cleanse(inner_pad.data(), inner_pad.size());
    OPENSSL_cleanse(outer_pad.data(), outer_pad.size());
    if (!ready) throw std::runtime_error("cannot prepare the secret lookup key");
  }

  // Copying a prepared state only reads it, so one HmacPads serves every thread.
  void Hash(std::string_view message, unsigned char* out) const {
    thread_local DigestContext scratch = NewDigestContext();
    unsigned char inner[32];
    unsigned int length = 0;
    const bool done = EVP_MD_CTX_copy_ex(scratch.get(), inner_.get()) == 1 &&
                      EVP_DigestUpdate(scratch.get(), message.data(), message.size()) == 1 &&
                      EVP_DigestFinal_ex(scratch.get(), inner, &length) == 1 &&
                      EVP_MD_CTX_copy_ex(scratch.get(), outer_.get()) == 1 &&
                      EVP_DigestUpdate(scratch.get(), inner, sizeof inner) == 1 &&
                      EVP_DigestFinal_ex(scratch.get(), out, &length) == 1;
    // Only an allocation failure inside OpenSSL gets here: nothing sensible is left to do.
    if (!done) std::abort();
  }

 private:
  std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> digest_;
  DigestContext inner_;
  DigestContext outer_;
};

Keyring::Keyring(const Key& master_key)
    : hmac_pads_(
          std::make_shared<const HmacPads>(Derive(master_key, "gatehouse secret lookup v1"))),
      seal_key_(Derive(master_key, "gatehouse secret seal v1")),
      check_value_(Derive(master_key, "gatehouse master key check v1")) {}

std::string Keyring::CheckValue() const {
  return ToHex(
      std::string_view(reinterpret_cast<const char*>(check_value_.data()), check_value_.size()));
}

Keyring Keyring::Load(const std::filesystem::path& file) {
  if (const char* env = std::getenv("GATEHOUSE_MASTER_KEY"); env && *env) {
    auto key = ParseHexKey(env);
    if (!key) throw std::runtime_error("GATEHOUSE_MASTER_KEY must be 64 hexadecimal digits");
    return Keyring(*key);
  }
  if (std::filesystem::exists(file)) {
    struct stat info;
    if (::stat(file.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
      throw std::runtime_error("master key file " + file.string() + " has mode " + mode +
                               ": it must not be readable or writable by group or others; run "
                               "chmod 600 " +
                               file.string());
    }
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read master key file " + file.string());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto key = ParseHexKey(text);
    if (!key)
      throw std::runtime_error("master key file " + file.string() +
                               " must hold 64 hexadecimal digits");
    return Keyring(*key);
  }
  Key key;
  if (RAND_bytes(key.data(), key.size()) != 1) throw std::runtime_error("no randomness");
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) throw std::runtime_error("cannot create master key file " + file.string());
  const std::string hex =
      ToHex(std::string_view(reinterpret_cast<const char*>(key.data()), key.size())) + "\n";
  const bool written = ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  ::close(fd);
  if (!written) throw std::runtime_error("cannot write master key file " + file.string());
  return Keyring(key);
}

std::string Keyring::Hash(std::string_view secret) const {
  std::string out(32, '\0');
  hmac_pads_->Hash(secret, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string Keyring::Seal(std::string_view plaintext, std::string_view context) const {
  std::string out(kNonceLength + plaintext.size() + kTagLength, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(bytes, kNonceLength) != 1) std::abort();
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, seal_key_.data(), bytes) != 1 ||
      (!context.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &length,
                                             reinterpret_cast<const unsigned char*>(context.data()),
                                             static_cast<int>(context.size())) != 1) ||
      EVP_EncryptUpdate(ctx.get(), bytes + kNonceLength, &length,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes + kNonceLength + length, &length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagLength,
                          bytes + kNonceLength + plaintext.size()) != 1) {
    std::abort();
  }
  return out;
}

std::optional<std::string> Keyring::Open(std::string_view sealed, std::string_view context) const {
  if (sealed.size() < kNonceLength + kTagLength) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(sealed.data());
  const std::size_t text_length = sealed.size() - kNonceLength - kTagLength;
  std::string out(text_length, '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int length = 0;
  std::array<unsigned char, kTagLength> tag;
  std::copy_n(bytes + kNonceLength + text_length, kTagLength, tag.begin());
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, seal_key_.data(), bytes) != 1 ||
      (!context.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &length,
                                             reinterpret_cast<const unsigned char*>(context.data()),
                                             static_cast<int>(context.size())) != 1) ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length,
                        bytes + kNonceLength, static_cast<int>(text_length)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagLength, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + length,
                          &length) != 1) {
    return std::nullopt;
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace gatehouse
