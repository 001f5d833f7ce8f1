#ifndef GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_
#define GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_

#include <cstddef>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "auth/keyring.h"
#include "auth/session_cookie.h"
#include "core/clock.h"

namespace gatehouse {

inline constexpr TimeMs kConsoleSessionLifetimeMs = 12 * 3600 * 1000;

// A shared sign-out whose id starts with this ends every session of one token opened until a
// time: "token:<token id>:<time>", stored until that time plus a session's lifetime
// (ConsoleSessions::TokenSessionsEnd).
inline constexpr std::string_view kTokenSessionsPrefix = "token:";

// How many live sessions this node keeps of those it opened. At a token's or an
// organization's cap a new session ends the oldest session of that same token or
// organization, never another organization's. At the total cap new sessions are refused and no
// session ends.
struct ConsoleSessionLimits {
  std::size_t per_token = 100;
  std::size_t per_organization = 1000;
  std::size_t total = 100'000;
};

// A session that ended before its expiry (signed out, ended by a cap, or by its token's
// refusal): every node must refuse its cookie until `expires_at`.
struct EndedSession {
  std::string session_id;
  TimeMs expires_at = 0;
};

// Console sessions (docs/architecture.md "Console sessions"). A session's cookie carries the
// session itself, sealed under the master key (auth/session_cookie.h), so a cookie opened on
// another node holding the same key is accepted here too. What cannot travel in a cookie is its
// end: the ids of sessions ended before their expiry are kept in a signed-out set, filled here
// (Open's caps, End) and from the shared store (AddSignedOut, by directory/console_sign_outs.h).
// The sessions this node opened are also kept in memory, indexed by expiry, token and
// organization, for the caps. Thread-safe; `keyring` must outlive it.
class ConsoleSessions {
 public:
  ConsoleSessions(const Keyring& keyring, TimeMs lifetime_ms, ConsoleSessionLimits limits = {})
      : keyring_(keyring), lifetime_ms_(lifetime_ms), limits_(limits) {}
  ConsoleSessions(const ConsoleSessions&) = delete;
  ConsoleSessions& operator=(const ConsoleSessions&) = delete;

  // Opens a session for token `token_id` of `organization_id`, opened with the secret whose
  // lookup hash is `secret_hash`. Returns the new session's cookie value and fills `session`;
  // nullopt when the total cap is reached. A session ended by a cap is ended as by End.
  std::optional<std::string> Open(const std::string& token_id, const std::string& organization_id,
                                  const std::string& secret_hash, TimeMs now,
                                  ConsoleSession& session);
  // The session a cookie value carries, from whichever node opened it; nullopt when the value
  // does not open under this key, the session expired at `now` or it was ended.
  std::optional<ConsoleSession> Find(std::string_view cookie_value, TimeMs now);
  // Ends a session at once on this node, and queues it for the shared set (TakeEnded).
  void End(const ConsoleSession& session);
  // Ends `session` as End does when this node opened it, and does nothing otherwise: for a
  // session whose secret this node does not know, which may only mean (for a session opened
  // on another node) that this node's token cache has not caught up yet.
  void EndIfOpenedHere(const ConsoleSession& session);

  // Ends `session_id` on this node until `expires_at` (a sign-out recorded in the store by any
  // node). Already expired entries at `now` are ignored. A token's end (kTokenSessionsPrefix)
  // is applied as by EndTokenSessions.
  void AddSignedOut(const std::string& session_id, TimeMs expires_at, TimeMs now);
  // Ends, on this node, every session of `token_id` opened at or before `at`, whichever node
  // opened it: a token that becomes usable again (unblocked, or its expiry moved past `at`)
  // does not bring back the sessions it had (docs/SECURITY.md).
  void EndTokenSessions(const std::string& token_id, TimeMs at);

  // The sessions ended here (End, caps) since the last call, for the shared set; the caller
  // gives back with Requeue those it could not store.
  std::vector<EndedSession> TakeEnded();
  void Requeue(std::vector<EndedSession> ended);
  // Drops signed-out entries and sessions opened here that expired at `now`.
  void Prune(TimeMs now);

  // Sessions opened on this node and alive.
  std::size_t size() const;
  // Ended sessions not yet expired, whoever ended them.
  std::size_t signed_out_size() const;

 private:
  // (expires_at, session id): ordered by expiry (= by creation, the lifetime being fixed).
  using ByExpiry = std::set<std::pair<TimeMs, std::string>>;

  void CloseLocked(const std::string& session_id);
  void EndLocked(const std::string& session_id, TimeMs expires_at);
  void AddSignedOutLocked(const std::string& session_id, TimeMs expires_at);
  void EndExpiredLocked(TimeMs now);

  const Keyring& keyring_;
  const TimeMs lifetime_ms_;
  const ConsoleSessionLimits limits_;
  mutable std::mutex mutex_;
  // Sessions opened on this node, by session id, and their indexes.
  std::unordered_map<std::string, ConsoleSession> sessions_;   // guarded by mutex_
  ByExpiry by_expiry_;                                         // guarded by mutex_
  std::unordered_map<std::string, ByExpiry> by_token_;         // guarded by mutex_
  std::unordered_map<std::string, ByExpiry> by_organization_;  // guarded by mutex_
  // Sessions ended before their expiry (by any node), and by expiry for pruning.
  std::unordered_set<std::string> signed_out_;  // guarded by mutex_
  ByExpiry signed_out_by_expiry_;               // guarded by mutex_
  std::vector<EndedSession> ended_;             // not yet given to TakeEnded; guarded by mutex_
  // Tokens whose sessions opened until a time are ended (EndTokenSessions): token id → time.
  std::unordered_map<std::string, TimeMs> token_ends_;  // guarded by mutex_
};

// The shared sign-out that ends, on every node, the sessions of `token_id` opened until `at`
// (ConsoleSessions::EndTokenSessions): kept until every such session has expired.
EndedSession TokenSessionsEnd(const std::string& token_id, TimeMs at);

// 32 random bytes as 64 lower-case hex digits.
std::string RandomHex32();

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_CONSOLE_SESSIONS_H_
