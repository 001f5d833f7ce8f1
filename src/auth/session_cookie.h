#ifndef GATEHOUSE_AUTH_SESSION_COOKIE_H_
#define GATEHOUSE_AUTH_SESSION_COOKIE_H_

#include <optional>
#include <string>
#include <string_view>

#include "auth/keyring.h"
#include "core/clock.h"

namespace gatehouse {

// A signed-in console: its random id, which organization token it acts as, the lookup hash of
// the secret that opened it (the session lives only while that secret is accepted), the CSRF
// token that every state-changing request made with its cookie must carry (API.md §3), and
// its expiry.
struct ConsoleSession {
  std::string session_id;  // 32 lower-case hex digits (16 random bytes)
  std::string token_id;
  std::string organization_id;
  std::string secret_hash;
  std::string csrf_token;
  TimeMs expires_at = 0;
};

// The session cookie carries the whole session, sealed (AES-256-GCM) under the master key, so
// that any node holding that key opens it: "s1." + base64url(nonce || ciphertext || tag). The
// seal's associated data names the purpose and the version, so neither a token secret's sealed
// copy nor any other sealed value opens as a cookie, nor a cookie as anything else.
inline constexpr std::string_view kSessionCookiePrefix = "s1.";

// The cookie value of `session`.
std::string SealSessionCookie(const Keyring& keyring, const ConsoleSession& session);
// The session a cookie value carries; nullopt for a value this key did not seal as a cookie, or
// that was altered. Whether it has expired or was signed out is for the caller to say.
std::optional<ConsoleSession> OpenSessionCookie(const Keyring& keyring, std::string_view cookie);

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_SESSION_COOKIE_H_
