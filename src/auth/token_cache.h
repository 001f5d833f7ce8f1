#ifndef GATEHOUSE_AUTH_TOKEN_CACHE_H_
#define GATEHOUSE_AUTH_TOKEN_CACHE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/hash_index.h"
#include "core/model.h"

namespace gatehouse {

// A non-revoked token as authentication needs it: a copy of the cache's compact record taken
// by a lookup (no allocation). The views and references stay valid as long as the cache, even
// after the token changes or leaves it; a later change is not seen by this copy.
class CachedToken {
 public:
  std::string_view id() const {
    return external_id_ ? std::string_view(external_id_, id_size_)
                        : std::string_view(id_text_.data(), id_size_);
  }
  const std::string& organization_id() const { return *organization_id_; }
  const std::string& project_id() const { return *project_id_; }  // empty: organization token
  std::string_view name() const { return name_; }

  TokenScope scope = TokenScope::kProject;
  TokenStatus status = TokenStatus::kActive;
  std::optional<TimeMs> expires_at;
  std::optional<std::int64_t> rate_limit_per_minute;  // API.md §6; none when absent
  // API.md §3, compiled when published; null = unrestricted (the common case).
  std::shared_ptr<const CompiledPermissions> permissions;
  TimeMs last_used_at = 0;  // as of the lookup; 0 = never used

  bool UsableAt(TimeMs now) const { return TokenUsableAt(status, expires_at, now); }

 private:
  friend class TokenCache;
  CachedToken() = default;

  const void* record_ = nullptr;  // the cache's record, for MarkUsed
  std::uint32_t slot_ = 0;
  std::uint32_t generation_ = 0;  // the record's generation when copied
  std::array<char, 36> id_text_{};
  const char* external_id_ = nullptr;  // a token id that is not a UUID, in the cache's arena
  std::uint32_t id_size_ = 0;
  const std::string* organization_id_ = nullptr;
  const std::string* project_id_ = nullptr;
  std::string_view name_;
};

// Every non-revoked token in memory, keyed by the keyed hash of its secret(s), so that
// authenticating a request never touches the store. Also keeps organization and project names
// by id for responses that show them.
//
// Layout (docs/architecture.md): one fixed-size record per token in chunks that never move
// (the 32-byte lookup hash, the id as 16 UUID bytes, scope, status, expiry, last use, indexes of
// the interned organization and project ids, the name's place in an append-only arena); two
// open-addressing indexes of record numbers, by secret hash and by id; side maps by record
// number for what few tokens have (a rotated-out secret, a rate limit, permissions).
//
// Thread-safe: lookups take a shared lock, writes an exclusive one; writers are rare (token
// management), readers are every request. MarkUsed takes no lock.
class TokenCache {
 public:
  TokenCache();
  ~TokenCache();
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // Makes room for `count` tokens so that loading them does not grow the indexes.
  void Reserve(std::size_t count);

  // Publishes the state of `token`: its fields, its current secret hash and, while it is still
  // valid, the hash of the secret a rotation replaced. A revoked token is removed instead.
  // Secret hashes are at most 32 bytes (HMAC-SHA256); a longer one is not published.
  void Put(const ApiToken& token, const TokenCredential& credential);
  void Remove(std::string_view token_id);

  // The token whose secret hashes to `hash`, provided that secret is still accepted at `now`
  // (a rotated-out secret stops at the end of its grace period). Status is not checked here.
  std::optional<CachedToken> FindByHash(std::string_view hash, TimeMs now) const;
  // The published state of a non-revoked token; nullopt when revoked or unknown.
  std::optional<CachedToken> FindById(std::string_view token_id) const;

  // Names of organizations and projects by id (Put records them from token rows); empty when
  // the id is unknown.
  std::string NameOf(const std::string& id) const;

  // The last-used times recorded since the previous call, for the store to persist.
  std::vector<std::pair<std::string, TimeMs>> TakeLastUsed();
  // Records a use of `token` at `now` (hot path: one compare-and-swap unless first since
  // flush); a later use already recorded stays (a flush handing back the uses it could not
  // store may come after a newer use). Ignored once `token` has left the cache.
  void MarkUsed(const CachedToken& token, TimeMs now);

  std::size_t size() const;

 private:
  struct Record;
  struct Extras {
    std::optional<std::int64_t> rate_limit_per_minute;
    std::shared_ptr<const CompiledPermissions> permissions;
  };
  struct Previous {
    std::array<unsigned char, 32> hash;
    TimeMs valid_until;
  };
  struct Use {
    std::uint32_t slot;
    std::uint32_t generation;
  };

  Record& RecordAt(std::uint32_t slot) const;
  std::uint32_t NewSlotLocked();
  // The slot of a token id (kNone when absent), given as text, as UUID bytes, or as text that
  // is not a canonical UUID.
  std::uint32_t FindSlotLocked(std::string_view token_id) const;
  std::uint32_t FindSlotLocked(const std::array<unsigned char, 16>& uuid) const;
  std::uint32_t FindTextSlotLocked(std::string_view token_id) const;
  std::uint32_t IdHashOf(const Record& record) const;
  void RemoveLocked(std::uint32_t slot);
  // Takes the slot's secret hashes (current and rotated-out) out of by_hash_.
  void RemoveHashesLocked(std::uint32_t slot);
  // The hash that a by_hash_ reference stands for (a record's, or a rotated-out one).
  const std::array<unsigned char, 32>& HashAt(std::uint32_t reference) const;
  // The index of the one copy of `id` (an organization or project id) that records refer to,
  // recording `name` when not empty. `last`: the previous answer, tried first.
  std::uint32_t InternLocked(const std::string& id, const std::string& name, std::uint32_t& last);
  // Where `text` now lies in the arena: offset and size.
  std::pair<std::uint32_t, std::uint32_t> AppendLocked(std::string_view text);
  std::string_view ArenaText(std::uint32_t offset, std::uint32_t size) const;
  // The id of a record flagged kTextId.
  std::string_view TextIdOf(const Record& record) const;
  CachedToken CopyLocked(std::uint32_t slot) const;
  std::string IdOf(const Record& record) const;

  mutable std::shared_mutex mutex_;
  // Fixed-size records by slot number, in chunks of kChunkRecords that never move.
  std::vector<std::unique_ptr<Record[]>> chunks_;  // guarded by mutex_
  std::uint32_t slots_used_ = 0;                   // guarded by mutex_
  std::vector<std::uint32_t> free_slots_;          // guarded by mutex_
  // Slot numbers by secret hash (the high bit marks a rotated-out secret) and by token id.
  HashIndex by_hash_;                                     // guarded by mutex_
  HashIndex by_id_;                                       // guarded by mutex_
  std::unordered_map<std::uint32_t, Previous> previous_;  // guarded by mutex_; by slot
  std::unordered_map<std::uint32_t, Extras> extras_;      // guarded by mutex_; by slot
  // Token names and ids that are not UUIDs, in chunks that never move. Append-only: the name
  // of a renamed or removed token stays until restart (~21 bytes a token), so that copies
  // taken before keep a valid view.
  std::vector<std::unique_ptr<char[]>> arena_;  // guarded by mutex_
  std::uint32_t arena_used_ = 0;                // guarded by mutex_; bytes into the last chunk
  // Organization and project ids, each once, with their names; never shrink.
  std::deque<std::string> owner_ids_;                                // guarded by mutex_
  std::vector<std::string> owner_names_;                             // guarded by mutex_
  std::unordered_map<std::string_view, std::uint32_t> owner_by_id_;  // guarded by mutex_
  // Guarded by mutex_; a load meets the same owners many times in a row.
  std::uint32_t last_organization_ = 0;
  std::uint32_t last_project_ = 0;

  std::mutex used_mutex_;
  std::vector<Use> used_;  // guarded by used_mutex_
};

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_TOKEN_CACHE_H_
