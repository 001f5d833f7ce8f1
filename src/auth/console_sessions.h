#ifndef GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_
#define GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_

#include <cstddef>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/clock.h"

namespace gatehouse {

inline constexpr TimeMs kConsoleSessionLifetimeMs = 12 * 3600 * 1000;

// How many live sessions are kept. At a token's or an organization's cap a new session ends
// the oldest session of that same token or organization, never another organization's. At the
// total cap new sessions are refused and no session ends.
struct ConsoleSessionLimits {
  std::size_t per_token = 100;
  std::size_t per_organization = 1000;
  std::size_t total = 100'000;
};

// A signed-in console: which organization token it acts as, the lookup hash of the secret that
// opened it (the session lives only while that secret is accepted), and the CSRF token that
// every state-changing request made with its cookie must carry (API.md §3).
struct ConsoleSession {
  std::string token_id;
  std::string organization_id;
  std::string secret_hash;
  std::string csrf_token;
  TimeMs expires_at = 0;
};

// Console sessions in memory, keyed by the random value of the session cookie. A session
// lasts `lifetime_ms` from its creation. Thread-safe.
class ConsoleSessions {
 public:
  explicit ConsoleSessions(TimeMs lifetime_ms, ConsoleSessionLimits limits = {})
      : lifetime_ms_(lifetime_ms), limits_(limits) {}
  ConsoleSessions(const ConsoleSessions&) = delete;
  ConsoleSessions& operator=(const ConsoleSessions&) = delete;

  // Opens a session for token `token_id` of `organization_id`, opened with the secret whose
  // lookup hash is `secret_hash`. Returns the new session's cookie value and fills `session`;
  // nullopt when the total cap is reached.
  std::optional<std::string> Open(const std::string& token_id, const std::string& organization_id,
                                  const std::string& secret_hash, TimeMs now,
                                  ConsoleSession& session);
  // The live session of a cookie value; nullopt when unknown or expired at `now`.
  std::optional<ConsoleSession> Find(const std::string& cookie_value, TimeMs now);
  // Ends a session (unknown values are ignored).
  void Close(const std::string& cookie_value);

  std::size_t size() const;

 private:
  // Sessions ordered by expiry (= by creation, the lifetime being fixed): (expires_at, cookie).
  using ByExpiry = std::set<std::pair<TimeMs, std::string>>;

  void CloseLocked(const std::string& cookie_value);
  void EndExpiredLocked(TimeMs now);

  const TimeMs lifetime_ms_;
  const ConsoleSessionLimits limits_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, ConsoleSession> sessions_;   // guarded by mutex_
  ByExpiry by_expiry_;                                         // guarded by mutex_
  std::unordered_map<std::string, ByExpiry> by_token_;         // guarded by mutex_
  std::unordered_map<std::string, ByExpiry> by_organization_;  // guarded by mutex_
};

// 32 random bytes as 64 lower-case hex digits.
std::string RandomHex32();

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_
