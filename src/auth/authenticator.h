#ifndef GATEHOUSE_AUTH_AUTHENTICATOR_H_
#define GATEHOUSE_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/console_sessions.h"
#include "auth/keyring.h"
#include "auth/rate_limiter.h"
#include "auth/token_cache.h"
#include "core/clock.h"
#include "core/error.h"

namespace gatehouse {

// Who may call a route (API.md §3, §9). Every route declares one when it is registered.
enum class Access {
  kPublic,          // no credentials are read
  kAnyToken,        // an organization or a project token
  kOrganization,    // an organization token
  kProject,         // a project token
  kSystemAdmin,     // the system administrator credential, and nothing else
  kConsoleSession,  // a console session cookie, and nothing else
};

// Whether a console session cookie may stand in for an organization token on a route.
enum class SessionUse { kAllowed, kRefused };

// The credentials a request presents, as the transport found them. Views into the request.
struct Credentials {
  std::string_view authorization;   // the Authorization header value, or empty
  std::string_view session_cookie;  // the console session cookie's value, or empty
  std::string_view csrf_token;      // the X-CSRF-Token header value, or empty
  bool changes_state = false;       // a cookie-authenticated change needs the CSRF token
  std::string_view remote_address;  // the client's address, for failed-authentication throttling
};

// Failed authentications (401 id 6) one address may make within a sliding minute before its
// further failures are answered 429 id 9002 (API.md §6).
inline constexpr std::int64_t kFailedAuthenticationsPerMinute = 20;

// Who a request acts as once its route's access rule is satisfied.
struct Principal {
  std::shared_ptr<const CachedToken> token;  // null on public and administrator routes
  std::optional<ConsoleSession> session;     // set when the session cookie authenticated
  bool system_admin = false;

  bool IsOrganization() const { return token && token->scope == TokenScope::kOrganization; }
  const std::string& organization_id() const { return token->organization_id; }
  const std::string& project_id() const { return token->project_id; }
};

// The secret carried by an Authorization header value in any of the accepted forms
// ("Bearer <s>", "Basic base64(<s>:)", bare "<s>"); nullopt when none can be read.
std::optional<std::string> SecretFromAuthorization(std::string_view header);

// The one place where a request's credentials become a Principal, from memory only.
// Thread-safe; every reference must outlive it.
class Authenticator {
 public:
  Authenticator(const Keyring& keyring, TokenCache& cache, ConsoleSessions& sessions,
                const Clock& clock, std::string admin_secret_hash);

  // Checks `credentials` against `access`:
  // - no credentials: 401 id 5; an unreadable, malformed, unknown, blocked, revoked, expired or
  //   rotated-out secret, or a session whose token is no longer usable: 401 id 6;
  // - a valid token of the wrong scope (organization vs project, any token on an administrator
  //   route): 403 id 7 (the administrator credential is no token anywhere else: 401 id 6);
  // - a session cookie that changes state without the session's CSRF token: 403 id 7.
  // - a token with rateLimitPerMinute that has made that many calls within the sliding minute:
  //   429 id 9002 with retry_after_seconds;
  // - an address with more than kFailedAuthenticationsPerMinute failures (401 id 6) in the
  //   sliding minute: its failures become 429 id 9002. Valid credentials from that address
  //   still pass, so a throttled address never slows a valid caller.
  // The Authorization header wins over the cookie. Marks the token used on success.
  Result<Principal> Authorize(const Credentials& credentials, Access access,
                              SessionUse sessions) const;

  // The token a presented secret belongs to: 401 id 6 unless usable now. Marks it used.
  Result<std::shared_ptr<const CachedToken>> Authenticate(std::string_view secret) const;

  const Clock& clock() const { return clock_; }

 private:
  Result<Principal> Check(const Credentials& credentials, Access access,
                          SessionUse sessions) const;
  Result<Principal> FromHeader(std::string_view header, Access access) const;
  // 429 id 9002 when the principal's token is over its rate limit.
  Status CheckRate(const Principal& principal) const;
  Result<Principal> FromSession(const Credentials& credentials) const;
  bool IsSystemAdmin(std::string_view secret) const;

  const Keyring& keyring_;
  TokenCache& cache_;
  ConsoleSessions& sessions_;
  const Clock& clock_;
  std::string admin_secret_hash_;
  mutable SlidingMinuteCounter token_calls_;      // by token id
  mutable SlidingMinuteCounter failed_by_address_;  // by remote address
};

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_AUTHENTICATOR_H_
