#ifndef GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_
#define GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/clock.h"

namespace gatehouse {

inline constexpr TimeMs kConsoleSessionLifetimeMs = 12 * 3600 * 1000;
// Sessions kept at most; beyond it the session closest to expiry is forgotten.
inline constexpr std::size_t kMaxConsoleSessions = 10000;

// A signed-in console: which organization token it acts as, and the CSRF token that every
// state-changing request made with its cookie must carry (API.md §3).
struct ConsoleSession {
  std::string token_id;
  std::string csrf_token;
  TimeMs expires_at = 0;
};

// Console sessions in memory, keyed by the random value of the session cookie. A session
// lasts `lifetime_ms` from its creation. Thread-safe.
class ConsoleSessions {
 public:
  explicit ConsoleSessions(TimeMs lifetime_ms) : lifetime_ms_(lifetime_ms) {}

  // Returns the new session's cookie value; `session` receives its CSRF token and expiry.
  std::string Open(const std::string& token_id, TimeMs now, ConsoleSession& session);
  // The live session of a cookie value; nullopt when unknown or expired at `now`.
  std::optional<ConsoleSession> Find(const std::string& cookie_value, TimeMs now);
  // Ends a session (unknown values are ignored).
  void Close(const std::string& cookie_value);

 private:
  const TimeMs lifetime_ms_;
  std::mutex mutex_;
  std::unordered_map<std::string, ConsoleSession> sessions_;  // guarded by mutex_
};

// 32 random bytes as 64 lower-case hex digits.
std::string RandomHex32();

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_
