#ifndef GATEHOUSE_DIRECTORY_LEAKED_SECRETS_H_
#define GATEHOUSE_DIRECTORY_LEAKED_SECRETS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/address_throttle.h"
#include "auth/keyring.h"
#include "auth/token_cache.h"
#include "core/clock.h"
#include "core/error.h"
#include "directory/token_directory.h"

namespace gatehouse {

// At most this many secrets per report (API.md §3), and this many reports per client address
// within a minute (then 429 id 9002 with Retry-After).
inline constexpr std::size_t kMaxLeakedSecretsPerReport = 100;
inline constexpr int kLeakReportsPerMinute = 10;

struct LeakReport {
  std::vector<std::string> secrets;
  std::string source;
  std::string url;
  std::string remote_address;  // the reporter's client address
};

// What a report answers for one secret: never more than the public prefix a token listing
// already shows, and only "revoked" or "unknown".
struct LeakOutcome {
  std::string secret_prefix;
  bool revoked = false;
};

// The public prefix to echo for a reported string: its first kSecretPrefixLength characters
// when they look like the start of a secret (a known kind's "gtX_" then base62), else empty, so
// that an answer never repeats more of a string than a token listing shows of a secret, and
// never arbitrary text.
std::string ReportedPrefixOf(std::string_view reported);

// POST /v2/tokens/leaked (API.md §3): revokes every token whose secret is reported, at once, in
// the store and the cache, audited as "token.leaked" in its organization's trail with the
// report's source and url, and tells the organization's webhook. Every reported string takes
// the same steps up to the store write (hash, one cache probe), whether it is malformed,
// foreign, revoked, unknown or live, so the answer and its timing say nothing beyond "revoked"
// for a live secret. Thread-safe; every reference must outlive it.
class LeakedSecrets {
 public:
  // Receives an organization id and the JSON body of its webhook notice (off the caller's
  // thread is the receiver's business: it must not block).
  using Notify = std::function<void(const std::string& organization_id, std::string body)>;

  LeakedSecrets(const Keyring& keyring, const TokenCache& cache, TokenDirectory& tokens,
                const Clock& clock, Notify notify);
  LeakedSecrets(const LeakedSecrets&) = delete;
  LeakedSecrets& operator=(const LeakedSecrets&) = delete;

  // One outcome per reported secret, in order. 429 id 9002 (with retry_after_seconds) when the
  // reporter's address has made kLeakReportsPerMinute reports within the minute; every report
  // counts, whatever it contains. A store failure while revoking is returned as is.
  Result<std::vector<LeakOutcome>> Report(const LeakReport& report);

 private:
  const Keyring& keyring_;
  const TokenCache& cache_;
  TokenDirectory& tokens_;
  const Clock& clock_;
  const Notify notify_;
  AddressThrottle throttle_{AddressThrottleLimits{kLeakReportsPerMinute}};
};

}  // namespace gatehouse

#endif  // GATEHOUSE_DIRECTORY_LEAKED_SECRETS_H_
