#ifndef GATEHOUSE_AUTH_AUTHENTICATOR_H_
#define GATEHOUSE_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/keyring.h"
#include "auth/token_cache.h"
#include "core/error.h"

namespace gatehouse {

// The secret carried by an Authorization header value in any of the accepted forms
// ("Bearer <s>", "Basic base64(<s>:)", bare "<s>"); nullopt when none can be read.
std::optional<std::string> SecretFromAuthorization(std::string_view header);

// Turns a presented secret into the token it belongs to, from memory only.
// Thread-safe; `keyring` and `cache` must outlive it.
class Authenticator {
 public:
  Authenticator(const Keyring& keyring, TokenCache& cache, std::string admin_secret_hash);

  // 401 id 6 for a malformed, unknown, blocked, revoked, expired or rotated-out secret.
  // Marks the token used on success.
  Result<std::shared_ptr<const CachedToken>> Authenticate(std::string_view secret,
                                                          TimeMs now) const;

  // True when `secret` is the system administrator credential of API.md §9.
  bool IsSystemAdmin(std::string_view secret) const;

 private:
  const Keyring& keyring_;
  TokenCache& cache_;
  std::string admin_secret_hash_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_AUTHENTICATOR_H_
