#include "auth/session_cookie.h"

#include <openssl/evp.h>

#include <cstdint>

#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::string_view kSealContext = "gatehouse console session s1";
constexpr std::size_t kSessionIdBytes = 16;
// A cookie longer than this was not made here (a real one is about 310 characters).
constexpr std::size_t kMaxCookieLength = 2048;

std::string Base64Url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()),
                                     static_cast<int>(bytes.size()));
  out.resize(length);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> FromBase64Url(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string padded(text);
  for (char& c : padded) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!plain) {
      return std::nullopt;
    }
  }
  const std::size_t padding = (4 - padded.size() % 4) % 4;
  padded.append(padding, '=');
  std::string out(padded.size() / 4 * 3, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(padded.data()),
                                     static_cast<int>(padded.size()));
  if (length < 0 || static_cast<std::size_t>(length) < padding) return std::nullopt;
  out.resize(length - padding);  // EVP_DecodeBlock counts the bytes that padding stands for
  return out;
}

void PutInt(std::string& out, std::uint64_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void PutField(std::string& out, std::string_view field) {
  PutInt(out, field.size(), 2);
  out.append(field);
}

// Reads what PutInt and PutField wrote, front to back; any shortfall makes ok() false.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view payload) : rest_(payload) {}

  std::uint64_t Int(int bytes) {
    if (rest_.size() < static_cast<std::size_t>(bytes)) return Short();
    std::uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(bytes);
    return value;
  }
  std::string Bytes(std::size_t count) {
    if (rest_.size() < count) return Short(), std::string();
    std::string out(rest_.substr(0, count));
    rest_.remove_prefix(count);
    return out;
  }
  std::string Field() { return Bytes(Int(2)); }
  bool ok() const { return ok_ && rest_.empty(); }

 private:
  std::uint64_t Short() {
    ok_ = false;
    rest_ = {};
    return 0;
  }

  std::string_view rest_;
  bool ok_ = true;
};

}  // namespace

std::string SealSessionCookie(const Keyring& keyring, const ConsoleSession& session) {
  std::string payload = FromHex(session.session_id).value_or(std::string());
  payload.resize(kSessionIdBytes, '\0');
  PutInt(payload, static_cast<std::uint64_t>(session.expires_at), 8);
  PutField(payload, session.token_id);
  PutField(payload, session.organization_id);
  PutField(payload, session.secret_hash);
  PutField(payload, session.csrf_token);
  return std::string(kSessionCookiePrefix) + Base64Url(keyring.Seal(payload, kSealContext));
}

std::optional<ConsoleSession> OpenSessionCookie(const Keyring& keyring, std::string_view cookie) {
  if (cookie.size() > kMaxCookieLength || !cookie.starts_with(kSessionCookiePrefix)) {
    return std::nullopt;
  }
  auto sealed = FromBase64Url(cookie.substr(kSessionCookiePrefix.size()));
  if (!sealed) return std::nullopt;
  auto payload = keyring.Open(*sealed, kSealContext);
  if (!payload) return std::nullopt;
  PayloadReader reader(*payload);
  ConsoleSession session;
  session.session_id = ToHex(reader.Bytes(kSessionIdBytes));
  session.expires_at = static_cast<TimeMs>(reader.Int(8));
  session.token_id = reader.Field();
  session.organization_id = reader.Field();
  session.secret_hash = reader.Field();
  session.csrf_token = reader.Field();
  if (!reader.ok()) return std::nullopt;
  return session;
}

}  // namespace gatehouse
