#ifndef GATEHOUSE_AUTH_KEYRING_H_
#define GATEHOUSE_AUTH_KEYRING_H_

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// The server's keys, derived from one 32-byte master key that never enters the store:
// an HMAC-SHA256 key that turns secrets into lookup hashes, and an AES-256-GCM key that seals
// secrets for the console's Copy. Immutable after construction; safe to share across threads.
class Keyring {
 public:
  using Key = std::array<unsigned char, 32>;

  explicit Keyring(const Key& master_key);

  // Reads the master key from GATEHOUSE_MASTER_KEY (64 hex digits) if set, else from `file`,
  // creating `file` with mode 0600 and a fresh random key when it does not exist.
  // Throws std::runtime_error (start-up only) when the key is unreadable or malformed, or when
  // `file` may be read or written by its group or others (the message says how to fix it).
  static Keyring Load(const std::filesystem::path& file);

  // A public value that identifies the master key without revealing it (64 hex digits): stored
  // with the data at initialization, so that a start with another key is refused.
  std::string CheckValue() const;

  // HMAC-SHA256 of `secret`: 32 raw bytes, used as the lookup key. On the hot path of every
  // authenticated call: the key's inner and outer pad states are hashed once, at construction.
  std::string Hash(std::string_view secret) const;

  // nonce(12) || ciphertext || tag(16).
  std::string Seal(std::string_view plaintext) const { return Seal(plaintext, {}); }
  // The plaintext, or nullopt when `sealed` was not produced by this key or was altered.
  std::optional<std::string> Open(std::string_view sealed) const { return Open(sealed, {}); }
  // The same, with `context` authenticated as associated data: a value sealed for one context
  // opens only with that same context, so what is sealed for one purpose (a console session
  // cookie) can never be passed off as another (a token secret's sealed copy, whose context is
  // empty).
  std::string Seal(std::string_view plaintext, std::string_view context) const;
  std::optional<std::string> Open(std::string_view sealed, std::string_view context) const;

  // The SHA-256 states after the HMAC key's inner and outer pads (opaque here).
  class HmacPads;

 private:
  std::shared_ptr<const HmacPads> hmac_pads_;
  Key seal_key_;
  Key check_value_;
};

// Constant-time equality of two byte strings (length is not secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_KEYRING_H_
