#ifndef GATEHOUSE_AUTH_TOKEN_CACHE_H_
#define GATEHOUSE_AUTH_TOKEN_CACHE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/model.h"

namespace gatehouse {

// A non-revoked token as authentication needs it. Everything but the usage fields is immutable
// once published; a change to the token publishes a new CachedToken. The organization and
// project ids refer to strings the cache keeps once per id (a million tokens share a few
// thousand of them), valid as long as the cache.
struct CachedToken {
  CachedToken(std::string id, const std::string& organization_id, const std::string& project_id)
      : id(std::move(id)), organization_id(organization_id), project_id(project_id) {}

  std::string id;
  const std::string& organization_id;
  const std::string& project_id;  // empty for organization tokens
  std::string name;
  TokenScope scope = TokenScope::kProject;
  TokenStatus status = TokenStatus::kActive;
  std::optional<TimeMs> expires_at;
  std::optional<std::int64_t> rate_limit_per_minute;  // API.md §6; none when absent
  // API.md §3, compiled when published; null = unrestricted (the common case).
  std::shared_ptr<const CompiledPermissions> permissions;

  // Usage, written on the hot path without locks; 0 = never used.
  mutable std::atomic<TimeMs> last_used_at{0};
  mutable std::atomic<bool> last_used_dirty{false};

  bool UsableAt(TimeMs now) const { return TokenUsableAt(status, expires_at, now); }
};

// Every non-revoked token in memory, keyed by the keyed hash of its secret(s), so that
// authenticating a request never touches the store. Also keeps organization and project names
// by id for responses that show them. Thread-safe: lookups take a shared lock, writes an
// exclusive one; writers are rare (token management), readers are every request.
class TokenCache {
 public:
  TokenCache() = default;
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // Publishes the state of `token`: its fields, its current secret hash and, while it is still
  // valid, the hash of the secret a rotation replaced. A revoked token is removed instead.
  void Put(const ApiToken& token, const TokenCredential& credential);
  void Remove(const std::string& token_id);

  // The token whose secret hashes to `hash`, provided that secret is still accepted at `now`
  // (a rotated-out secret stops at the end of its grace period). Status is not checked here.
  std::shared_ptr<const CachedToken> FindByHash(std::string_view hash, TimeMs now) const;
  // The published state of a non-revoked token; null when revoked or unknown.
  std::shared_ptr<const CachedToken> FindById(const std::string& token_id) const;

  // Names of organizations and projects by id (Put records them from token rows); empty when
  // the id is unknown.
  std::string NameOf(const std::string& id) const;

  // The last-used times recorded since the previous call, for the store to persist.
  std::vector<std::pair<std::string, TimeMs>> TakeLastUsed();
  // Records a use of `token` at `now` (hot path: two atomic operations unless first since flush).
  void MarkUsed(const CachedToken& token, TimeMs now);

  std::size_t size() const;

 private:
  // A secret's lookup hash (HMAC-SHA256, 32 bytes) held inline: no allocation per key.
  struct HashKey {
    std::array<char, 32> bytes{};
    std::uint8_t size = 0;

    static HashKey Of(std::string_view hash);
    std::string_view view() const { return {bytes.data(), size}; }
    bool operator==(const HashKey& other) const { return view() == other.view(); }
  };
  struct HashKeyHash {
    std::size_t operator()(const HashKey& key) const {
      return std::hash<std::string_view>{}(key.view());
    }
  };
  struct HashEntry {
    std::shared_ptr<const CachedToken> token;
    std::optional<TimeMs> valid_until;  // set for a rotated-out secret
  };
  struct TokenEntry {
    std::shared_ptr<const CachedToken> token;
    HashKey hash;
    std::optional<HashKey> previous_hash;
  };

  void RemoveLocked(const std::string& token_id);
  // The one copy of `id` (an organization or project id) that tokens refer to.
  const std::string& InternLocked(const std::string& id);

  mutable std::shared_mutex mutex_;
  std::unordered_map<HashKey, HashEntry, HashKeyHash> by_hash_;  // guarded by mutex_
  // Keyed by a view of the entry's own CachedToken::id.
  std::unordered_map<std::string_view, TokenEntry> by_id_;  // guarded by mutex_
  std::unordered_set<std::string> ids_;                     // guarded by mutex_; never shrinks
  std::unordered_map<std::string, std::string> names_;      // guarded by mutex_

  std::mutex used_mutex_;
  std::vector<std::string> used_ids_;  // guarded by used_mutex_
};

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_TOKEN_CACHE_H_
