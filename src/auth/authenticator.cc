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

Authenticator::Authenticator(const Keyring& keyring, TokenCache& cache, ConsoleSessions& sessions,
                             const Clock& clock, std::string admin_secret_hash,
                             std::string_view metrics_token)
    : keyring_(keyring),
      cache_(cache),
      sessions_(sessions),
      clock_(clock),
      admin_secret_hash_(std::move(admin_secret_hash)),
      metrics_token_hash_(metrics_token.empty() ? std::string() : keyring.Hash(metrics_token)) {}

Result<Principal> Authenticator::Authorize(const Credentials& credentials, Access access,
                                           SessionUse sessions, Principal* refused) const {
  auto principal = Check(credentials, access, sessions);
  if (principal) {
    if (principal->token && !AddressAllowed(*principal->token, credentials.remote_address)) {
      if (refused) *refused = *principal;
      return Fail(ErrorCode::kAddressNotAllowed, {},
                  "token " + std::string(principal->token->id()) + " called from " +
                      std::string(credentials.remote_address));
    }
    if (auto rate = CheckRate(*principal); !rate) {
      if (refused) *refused = std::move(*principal);
      return std::unexpected(rate.error());
    }
    return principal;
  }
  if (principal.error().code() != ErrorCode::kTokenNotFoundOrBlocked) return principal;
  const TimeMs now = clock_.Now();
  if (const TimeMs blocked = failed_by_address_.BlockedFor(credentials.remote_address, now)) {
    Error throttled(ErrorCode::kRateLimited, {},
                    "failed authentications from " + std::string(credentials.remote_address));
    throttled.retry_after_seconds = static_cast<int>((blocked + 999) / 1000);
    return std::unexpected(std::move(throttled));
  }
  failed_by_address_.RecordFailure(credentials.remote_address, now);
  return principal;
}

Status Authenticator::CheckRate(const Principal& principal) const {
  if (!principal.token || !principal.token->rate_limit_per_minute) return {};
  if (auto wait = token_calls_.Acquire(std::string(principal.token->id()),
                                       *principal.token->rate_limit_per_minute, clock_.Now())) {
    Error limited(ErrorCode::kRateLimited, {},
                  "token " + std::string(principal.token->id()) + " over its rate");
    limited.retry_after_seconds = *wait;
    return std::unexpected(std::move(limited));
  }
  return {};
}

Result<Principal> Authenticator::Check(const Credentials& credentials, Access access,
                                       SessionUse sessions) const {
  switch (access) {
    case Access::kPublic:
      return Principal{};
    case Access::kConsoleSession:
      return FromSession(credentials);
    case Access::kMetrics:
      return ForMetrics(credentials.authorization);
    default:
      break;
  }
  if (!credentials.authorization.empty()) return FromHeader(credentials.authorization, access);
  if (access == Access::kSystemAdmin || sessions == SessionUse::kRefused ||
      credentials.session_cookie.empty()) {
    return Fail(ErrorCode::kApiKeyNotFound);
  }
  auto principal = FromSession(credentials);
  if (principal && access == Access::kProject) {
    return Fail(ErrorCode::kOutOfScope, {}, "project scope required");
  }
  return principal;
}

Result<Principal> Authenticator::FromHeader(std::string_view header, Access access) const {
  const auto secret = SecretFromAuthorization(header);
  if (!secret) return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "unreadable Authorization");
  if (access == Access::kSystemAdmin) {
    if (IsSystemAdmin(*secret)) return Principal{std::nullopt, std::nullopt, true};
    if (Authenticate(*secret)) {
      return Fail(ErrorCode::kOutOfScope, {}, "not the system administrator");
    }
    return Fail(ErrorCode::kTokenNotFoundOrBlocked);
  }
  auto token = Authenticate(*secret);
  if (!token) return std::unexpected(token.error());
  const bool organization = token->scope == TokenScope::kOrganization;
  if (access == Access::kOrganization && !organization) {
    return Fail(ErrorCode::kOutOfScope, {}, "organization scope required");
  }
  if (access == Access::kProject && organization) {
    return Fail(ErrorCode::kOutOfScope, {}, "project scope required");
  }
  return Principal{std::move(*token)};
}

Result<Principal> Authenticator::FromSession(const Credentials& credentials) const {
  if (credentials.session_cookie.empty()) return Fail(ErrorCode::kApiKeyNotFound);
  const TimeMs now = clock_.Now();
  auto session = sessions_.Find(credentials.session_cookie, now);
  if (!session) return Fail(ErrorCode::kApiKeyNotFound, {}, "unknown or expired session");
  // The secret that opened the session must still be accepted: a rotation (after its grace),
  // a block, a revocation or an expiry ends the session. One hash probe, as for a header.
  auto token = cache_.FindByHash(session->secret_hash, now);
  if (!token) {
    // Rotated out or revoked: the session ends. Unless another node opened it, when the secret
    // may only be missing from this node's cache for now: refused, but not ended on that word.
    sessions_.EndIfOpenedHere(*session);
    return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "session secret not known");
  }
  if (token->id() != session->token_id || !token->UsableAt(now)) {
    // Blocked or expired: the session stays ended should the token be usable again.
    sessions_.End(*session);
    return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "session secret no longer accepted");
  }
  if (credentials.changes_state &&
      !ConstantTimeEquals(credentials.csrf_token, session->csrf_token)) {
    return Fail(ErrorCode::kOutOfScope, {}, "missing or wrong X-CSRF-Token");
  }
  cache_.MarkUsed(*token, now);
  return Principal{std::move(token), std::move(session)};
}

Result<CachedToken> Authenticator::Authenticate(std::string_view secret) const {
  std::string hash;
  return Lookup(secret, hash);
}

Result<CachedToken> Authenticator::Lookup(std::string_view secret, std::string& hash) const {
  const auto kind = ParseSecret(secret);
  if (!kind || *kind == SecretKind::kSystemAdmin) {
    return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "malformed secret");
  }
  const TimeMs now = clock_.Now();
  hash = keyring_.Hash(secret);
  auto token = cache_.FindByHash(hash, now);
  if (!token) return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "unknown secret");
  if (!token->UsableAt(now)) {
    return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "token blocked or expired");
  }
  cache_.MarkUsed(*token, now);
  return *token;
}

Result<SignedIn> Authenticator::SignIn(std::string_view secret,
                                       std::string_view remote_address) const {
  const TimeMs now = clock_.Now();
  if (sign_in_throttle_.BlockedFor(remote_address, now) > 0) {
    return Fail(ErrorCode::kRateLimited, {}, "too many failed sign-ins from this address");
  }
  std::string hash;
  auto token = Lookup(secret, hash);
  if (!token) {
    sign_in_throttle_.RecordFailure(remote_address, now);
    return std::unexpected(token.error());
  }
  if (token->scope != TokenScope::kOrganization) {
    return Fail(ErrorCode::kOutOfScope, {}, "console sessions need an organization token");
  }
  if (!AddressAllowed(*token, remote_address)) {
    return Fail(ErrorCode::kAddressNotAllowed, {}, "sign-in from a refused address");
  }
  SignedIn signed_in;
  auto cookie = sessions_.Open(std::string(token->id()), token->organization_id(), hash, now,
                               signed_in.session);
  if (!cookie) return Fail(ErrorCode::kRateLimited, {}, "console sessions at their total cap");
  signed_in.cookie = std::move(*cookie);
  signed_in.token = std::move(*token);
  return signed_in;
}

bool AddressAllowed(const CachedToken& token, std::string_view remote_address) {
  return !token.permissions || token.permissions->AllowsAddress(remote_address);
}

std::int64_t Authenticator::SignInRetryAfterSeconds(std::string_view remote_address) const {
  const TimeMs blocked = sign_in_throttle_.BlockedFor(remote_address, clock_.Now());
  return (blocked + 999) / 1000;
}

Result<Principal> Authenticator::ForMetrics(std::string_view header) const {
  if (metrics_token_hash_.empty()) return Principal{};
  if (header.empty()) return Fail(ErrorCode::kApiKeyNotFound, {}, "metrics token required");
  header = Trim(header);
  if (header.size() <= 7 || !EqualsIgnoreCase(header.substr(0, 7), "Bearer ") ||
      !ConstantTimeEquals(keyring_.Hash(Trim(header.substr(7))), metrics_token_hash_)) {
    return Fail(ErrorCode::kTokenNotFoundOrBlocked, {}, "wrong metrics token");
  }
  return Principal{};
}

bool Authenticator::IsSystemAdmin(std::string_view secret) const {
  const auto kind = ParseSecret(secret);
  return kind == SecretKind::kSystemAdmin && !admin_secret_hash_.empty() &&
         ConstantTimeEquals(keyring_.Hash(secret), admin_secret_hash_);
}

}  // namespace gatehouse
