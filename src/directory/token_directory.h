#ifndef GATEHOUSE_DIRECTORY_TOKEN_DIRECTORY_H_
#define GATEHOUSE_DIRECTORY_TOKEN_DIRECTORY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "auth/console_sessions.h"
#include "auth/keyring.h"
#include "auth/token_cache.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/model.h"
#include "store/store.h"

namespace gatehouse {

// What a caller may set when creating a token. Fields are already validated.
struct TokenSpec {
  TokenScope scope = TokenScope::kProject;
  std::string organization_id;
  std::string project_id;  // required for project tokens, empty otherwise
  std::string project_name;
  std::string name;
  std::string description;
  TokenStatus status = TokenStatus::kActive;
  std::optional<TimeMs> expires_at;
  std::optional<std::int64_t> rate_limit_per_minute;
  TokenPermissions permissions;  // organization tokens: allowed_cidrs only
};

// A token together with the secret that was just issued for it: the only moment the
// plaintext exists outside the sealed copy.
struct IssuedToken {
  ApiToken token;
  std::string secret;
};

// The rules of API tokens (API.md §3, §6): issuing, changing, revoking, rotating and revealing
// secrets, with the store written first and the TokenCache updated after. Thread-safe.
// Every reference given to the constructor must outlive it.
class TokenDirectory {
 public:
  TokenDirectory(Store& store, const Keyring& keyring, TokenCache& cache, const Clock& clock,
                 bool keep_sealed);
  TokenDirectory(const TokenDirectory&) = delete;
  TokenDirectory& operator=(const TokenDirectory&) = delete;

  // A token and credential for `spec` with a fresh secret, not yet stored (for callers that
  // store it together with its owner, such as a new project's default token).
  IssuedToken Mint(const TokenSpec& spec, TimeMs now, TokenCredential& credential) const;
  // Publishes a stored token to the cache (a load or sync running meanwhile leaves it alone).
  void Publish(const ApiToken& token, const TokenCredential& credential);
  // This node's console sessions: when a change makes a token usable again, its sessions end
  // here at once (every node learns it from the store's shared sign-out, written first).
  // Optional (a CLI process has none); `sessions` must outlive its use, or be unset (nullptr).
  void SetConsoleSessions(ConsoleSessions* sessions) { sessions_ = sessions; }

  // Every change is audited in the same transaction as `actor`'s (the CLI: the system's).
  // Returns once the token is stored and in the cache.
  Result<IssuedToken> Create(const TokenSpec& spec, const AuditActor& actor = AuditActor::System());
  // The same without waiting: mints the secret on the calling thread, queues the token for the
  // store's next group commit and returns; `done` runs on the store's thread once the token is
  // stored and in the cache (or with the error that kept it out). `done` must not block.
  using CreatedCallback = std::function<void(Result<IssuedToken>)>;
  void Create(const TokenSpec& spec, const AuditActor& actor, CreatedCallback done);
  // 404 id 9004 unless the token exists in `organization_id`.
  Result<ApiToken> Find(const std::string& organization_id, const std::string& token_id);
  // Revoked tokens cannot change (404 id 9004): they are gone for every purpose but the audit.
  Result<ApiToken> Update(const std::string& organization_id, const std::string& token_id,
                          const TokenChange& change,
                          const AuditActor& actor = AuditActor::System());
  Result<ApiToken> Revoke(const std::string& organization_id, const std::string& token_id,
                          const AuditActor& actor = AuditActor::System());
  // Revokes a token whose secret was reported leaked (API.md §3), audited as "token.leaked"
  // with `source` and `url`. Unlike Revoke, also the last usable organization token: a
  // published secret must stop working even if that locks the organization out (the CLI or the
  // system administrator can issue a new one). 404 id 9004 when already revoked.
  Result<ApiToken> RevokeLeaked(const std::string& organization_id, const std::string& token_id,
                                std::string_view source, std::string_view url,
                                const AuditActor& actor);
  // The current secret, from its sealed copy; 404 id 9004 with reveal=never. Audited.
  Result<std::string> Reveal(const std::string& organization_id, const std::string& token_id,
                             const AuditActor& actor);
  // A new secret; the old one keeps working for `grace_seconds`.
  Result<IssuedToken> Rotate(const std::string& organization_id, const std::string& token_id,
                             int grace_seconds, const AuditActor& actor);
  Result<TokenPage> Search(const TokenQuery& query);
  // The Active and Blocked tokens of an organization (scope Organization) or of one project.
  Result<std::vector<ApiToken>> ListLive(const std::string& organization_id, TokenScope scope,
                                         const std::string& project_id = {});
  // The live tokens of one project in ListLive's order, read `page_rows` at a time (flat in
  // memory however many there are), each with its last use held in memory applied as ListLive
  // does. Does not check that the project exists (it then has no tokens). The directory must
  // outlive the cursor.
  static constexpr std::int64_t kProjectTokenPageRows = 500;
  Result<std::unique_ptr<TokenCursor>> OpenLiveProjectTokens(
      const std::string& organization_id, const std::string& project_id,
      std::int64_t page_rows = kProjectTokenPageRows);

  // Loads every non-revoked token into the cache (start-up).
  Status LoadCache();
  // Applies to the cache every token change made since the previous sync by anyone
  // (another process such as the CLI, or another node). Cheap when nothing changed.
  Status SyncCache();
  // Writes the last-used times gathered in memory to the store.
  Status FlushUsage();
  // Brings the store's in-memory search structures up to date (loads them the first time).
  Status RefreshSearch() { return store_.RefreshSearchIndex(); }

 private:
  // One attempt of Rotate: kConflict when the token's status changed since it was read.
  Result<IssuedToken> RotateOnce(const std::string& organization_id, const std::string& token_id,
                                 int grace_seconds, const AuditActor& actor);
  // How Apply audits and guards a change.
  struct ChangeRules {
    std::string action;  // empty: named after the change (ActionOf)
    std::vector<std::pair<std::string, std::string>> notes;  // audit notes beside the changes
    bool keep_organization_access = true;                    // API.md §6, 409 id 9003
  };
  Result<ApiToken> Apply(const std::string& organization_id, const std::string& token_id,
                         const TokenChange& change, const AuditActor& actor,
                         const ChangeRules& rules);
  // Requires sync_mutex_ held.
  Status SyncSince(TimeMs since);
  // Removes a revoked token from the cache (a load or sync running meanwhile leaves it out).
  void Unpublish(const std::string& token_id);
  // Publishes what the store holds of `token_id` now (Unpublish when it is revoked or gone), read
  // under publish_mutex_ after the caller's write committed. Two writers that publish in the
  // opposite order of their commits then both publish the later state: a writer that reads
  // before the other commits publishes before the other's read. Publishing what a writer had
  // computed instead could put a revoked or blocked token back, usable until the next sync.
  // When the store cannot be read, `written` (what the caller stored) stands in, failing
  // closed: unusable, it leaves the cache; usable, it is put with `credential` if given.
  Status PublishStored(const std::string& organization_id, const std::string& token_id,
                       const ApiToken& written, const TokenCredential* credential);
  // A load or sync puts what it read from the store (PutRead, between BeginRead and EndRead).
  // It may have read a token's row from before a write that committed while it ran: it must
  // not put that row back over the state the write published (a rotated secret would be refused
  // until the next sync), so it skips the tokens published meanwhile. The next sync reads them
  // again (its overlap covers the read).
  void BeginRead();
  void PutRead(const ApiToken& token, const TokenCredential& credential);
  void EndRead();

  Store& store_;
  const Keyring& keyring_;
  TokenCache& cache_;
  const Clock& clock_;
  const bool keep_sealed_;
  std::atomic<ConsoleSessions*> sessions_ = nullptr;

  std::mutex publish_mutex_;  // PublishStored's read and put, one writer at a time
  std::mutex sync_mutex_;
  TimeMs synced_until_ = 0;    // guarded by sync_mutex_
  TimeMs mark_warned_at_ = 0;  // guarded by sync_mutex_: the last "mark behind" warning

  std::mutex written_mutex_;
  bool reading_ = false;                         // guarded by written_mutex_
  std::unordered_set<std::string> written_ids_;  // while reading_; guarded by written_mutex_
};

}  // namespace gatehouse

#endif  // GATEHOUSE_DIRECTORY_TOKEN_DIRECTORY_H_
