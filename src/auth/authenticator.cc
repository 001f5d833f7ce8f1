#include "auth/authenticator.h"

#include <openssl/evp.h>

#include "auth/secret.h"
#include "core/text.h"

namespace gatehouse {

std::optional<std::string> SecretFromAuthorization(std::string_view header) {
  header = Trim(header);
  if (header.size() > 7 && EqualsIgnoreCase(header.substr(0, 7), "Bearer ")) {
    return std::string(Trim(header.substr(7)));
  }
  if (header.size() > 6 && EqualsIgnoreCase(header.substr(0, 6), "Basic ")) {
    const std::string_view encoded = Trim(header.substr(6));
    if (encoded.size() % 4 != 0 || encoded.size() > 512) return std::nullopt;
    std::string decoded(encoded.size() / 4 * 3, '\0');
    const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                       reinterpret_cast<const unsigned char*>(encoded.data()),
                                       static_cast<int>(encoded.size()));
    if (length < 0) return std::nullopt;
    decoded.resize(length);
    // EVP_DecodeBlock keeps the zero bytes that padding produced.
    while (!decoded.empty() && decoded.back() == '\0') decoded.pop_back();
    // "secret:" (empty password) is the documented form; the user part is the secret.
    return decoded.substr(0, decoded.find(':'));
  }
  if (header.empty()) return std::nullopt;
  return std::string(header);
}

Authenticator::Authenticator(const Keyring& keyring, TokenCache& cache,
                             std::string admin_secret_hash)
    : keyring_(keyring), cache_(cache), admin_secret_hash_(std::move(admin_secret_hash)) {}

Result<std::shared_ptr<const CachedToken>> Authenticator::Authenticate(std::string_view secret,
                                                                       TimeMs now) const {
  const auto kind = ParseSecret(secret);
  if (!kind || *kind == SecretKind::kSystemAdmin) {
    return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "malformed secret");
  }
  auto token = cache_.FindByHash(keyring_.Hash(secret), now);
  if (!token) return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "unknown secret");
  if (!token->UsableAt(now)) {
    return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "token blocked or expired");
  }
  cache_.MarkUsed(*token, now);
  return token;
}

bool Authenticator::IsSystemAdmin(std::string_view secret) const {
  const auto kind = ParseSecret(secret);
  return kind == SecretKind::kSystemAdmin && !admin_secret_hash_.empty() &&
         ConstantTimeEquals(keyring_.Hash(secret), admin_secret_hash_);
}

}  // namespace gatehouse
