#ifndef GATEHOUSE_AUTH_AUTHENTICATOR_H_
#define GATEHOUSE_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/address_throttle.h"
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
  kMetrics,         // the metrics bearer token when one is configured, else public
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
  std::optional<CachedToken> token;       // none on public and administrator routes
  std::optional<ConsoleSession> session;  // set when the session cookie authenticated
  bool system_admin = false;

  bool IsOrganization() const { return token && token->scope == TokenScope::kOrganization; }
  const std::string& organization_id() const { return token->organization_id(); }
  const std::string& project_id() const { return token->project_id(); }
};

// Whether `token` may be used from `remote_address` (its allowedCidrs, API.md §3). Memory only.
bool AddressAllowed(const CachedToken& token, std::string_view remote_address);

// The secret carried by an Authorization header value in any of the accepted forms
// ("Bearer <s>", "Basic base64(<s>:)", bare "<s>"); nullopt when none can be read.
std::optional<std::string> SecretFromAuthorization(std::string_view header);

// A console sign-in: the session's cookie value and state, and the token it acts as.
struct SignedIn {
  std::string cookie;
  ConsoleSession session;
  std::optional<CachedToken> token;
};

// The one place where a request's credentials become a Principal, from memory only.
// Thread-safe; every reference must outlive it.
class Authenticator {
 public:
  // `metrics_token`: the bearer token that Access::kMetrics requires; empty = none required.
  Authenticator(const Keyring& keyring, TokenCache& cache, ConsoleSessions& sessions,
                const Clock& clock, std::string admin_secret_hash,
                std::string_view metrics_token = {});

  // Checks `credentials` against `access`:
  // - no credentials: 401 id 5; an unreadable, malformed, unknown, blocked, revoked, expired or
  //   rotated-out secret: 401 id 6; a session whose token is blocked, revoked or expired, or
  //   whose opening secret was rotated out (after its grace): 401 id 6, and the session ends;
  // - a valid token of the wrong scope (organization vs project, any token on an administrator
  //   route): 403 id 7 (the administrator credential is no token anywhere else: 401 id 6);
  // - a session cookie that changes state without the session's CSRF token: 403 id 7;
  // - on a metrics route with a metrics token configured: no Authorization header 401 id 5,
  //   any other value than "Bearer <metrics token>" 401 id 6;
  // - a token with rateLimitPerMinute that has made that many calls within the sliding minute:
  //   429 id 9002 with retry_after_seconds;
  // - an address with more than kFailedAuthenticationsPerMinute failures (401 id 6) in the
  //   sliding minute: its failures become 429 id 9002. Valid credentials from that address
  //   still pass, so a throttled address never slows a valid caller;
  // - a valid token whose allowedCidrs do not contain credentials.remote_address: 403 id 7
  //   "Address not allowed for this ApiToken" (before its rate is counted).
  // The Authorization header wins over the cookie. Marks the token used on success.
  // `refused`, when given, receives the caller that the last two checks (its address, its rate)
  // refused, so that a refused model call can still be recorded (API.md §3).
  Result<Principal> Authorize(const Credentials& credentials, Access access, SessionUse sessions,
                              Principal* refused = nullptr) const;

  // The token a presented secret belongs to: 401 id 6 unless usable now. Marks it used.
  Result<CachedToken> Authenticate(std::string_view secret) const;

  // Opens a console session with an organization secret presented by the client at
  // `remote_address` (API.md §3). 429 id 9002 while that address is throttled for failed
  // sign-ins (SignInRetryAfterSeconds says for how long) or when sessions are at their total
  // cap; 401 id 6 for a secret that is not a usable token, which counts as a failure of the
  // address; 403 id 7 for a project token, or for a token whose allowedCidrs refuse the address.
  Result<SignedIn> SignIn(std::string_view secret, std::string_view remote_address) const;
  // Whole seconds until `remote_address` may sign in again; 0 when it may now.
  std::int64_t SignInRetryAfterSeconds(std::string_view remote_address) const;

 private:
  Result<Principal> Check(const Credentials& credentials, Access access, SessionUse sessions) const;
  Result<Principal> FromHeader(std::string_view header, Access access) const;
  // 429 id 9002 when the principal's token is over its rate limit.
  Status CheckRate(const Principal& principal) const;
  Result<Principal> FromSession(const Credentials& credentials) const;
  bool IsSystemAdmin(std::string_view secret) const;
  Result<Principal> ForMetrics(std::string_view header) const;
  // Authenticate, also giving the secret's lookup hash.
  Result<CachedToken> Lookup(std::string_view secret, std::string& hash) const;

  const Keyring& keyring_;
  TokenCache& cache_;
  ConsoleSessions& sessions_;
  const Clock& clock_;
  std::string admin_secret_hash_;
  std::string metrics_token_hash_;  // empty: the metrics routes are public
  mutable AddressThrottle sign_in_throttle_;
  mutable SlidingMinuteCounter token_calls_;  // by token id
  mutable AddressThrottle failed_by_address_{
      AddressThrottleLimits{static_cast<int>(kFailedAuthenticationsPerMinute)}};
};

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_AUTHENTICATOR_H_
