#include "directory/token_directory.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <limits>

#include "auth/secret.h"
#include "core/audit_details.h"
#include "core/ids.h"
#include "directory/conflict_retry.h"

namespace gatehouse {
namespace {

// A sync re-reads this much history so that a write committed with a slightly older
// timestamp than a concurrent one is not missed.
constexpr TimeMs kSyncOverlapMs = 5000;
// A change mark this far behind the node's clock is logged, at most once per this interval.
constexpr TimeMs kMarkBehindWarningMs = 60'000;

AuditEntry TokenAudit(const AuditActor& actor, const ApiToken& token, std::string action, TimeMs at,
                      const AuditDetails& details) {
  return MakeAuditEntry(actor, token.organization_id, std::move(action), "token", token.id,
                        token.name, at, details.empty() ? std::string() : details.Json());
}

// Shows the last use held in memory (flushed to the store once in a while) when it is newer.
void ApplyLiveUsage(const TokenCache& cache, ApiToken& token) {
  if (auto cached = cache.FindById(token.id)) {
    const TimeMs used = cached->last_used_at;
    if (used > token.last_used_at.value_or(0)) token.last_used_at = used;
  }
}

// A store cursor whose tokens show their live last use.
class LiveUsageCursor final : public TokenCursor {
 public:
  LiveUsageCursor(std::unique_ptr<TokenCursor> stored, const TokenCache& cache)
      : stored_(std::move(stored)), cache_(cache) {}

  Result<bool> Next(ApiToken& token) override {
    auto more = stored_->Next(token);
    if (more && *more) ApplyLiveUsage(cache_, token);
    return more;
  }

 private:
  std::unique_ptr<TokenCursor> stored_;
  const TokenCache& cache_;
};

boost::json::value TimeJson(const std::optional<TimeMs>& at) {
  if (!at) return nullptr;
  return boost::json::string(FormatTimestamp(*at));
}

// Permission lists of a new token: only the restricted ones (absent is the default).
void SetPermissionDetails(AuditDetails& details, const TokenPermissions& permissions) {
  auto set = [&details](std::string_view field, const TokenPermissions::List& list) {
    if (list) details.Set(field, PermissionListJson(list));
  };
  set("allowedModels", permissions.allowed_models);
  set("allowedAssistants", permissions.allowed_assistants);
  set("allowedCidrs", permissions.allowed_cidrs);
}

// Each permission list that changed, before and after (null = no restriction).
void ChangePermissionDetails(AuditDetails& details, const TokenPermissions& before,
                             const TokenPermissions& after) {
  details.Change("allowedModels", PermissionListJson(before.allowed_models),
                 PermissionListJson(after.allowed_models));
  details.Change("allowedAssistants", PermissionListJson(before.allowed_assistants),
                 PermissionListJson(after.allowed_assistants));
  details.Change("allowedCidrs", PermissionListJson(before.allowed_cidrs),
                 PermissionListJson(after.allowed_cidrs));
}

// The action that names a change: a status change first, then an expiry set in the past.
std::string ActionOf(const ApiToken& before, const ApiToken& after, TimeMs now) {
  if (before.status != after.status) {
    switch (after.status) {
      case TokenStatus::kRevoked:
        return "token.revoke";
      case TokenStatus::kBlocked:
        return "token.block";
      case TokenStatus::kActive:
        return "token.unblock";
    }
  }
  if (before.expires_at != after.expires_at && after.expires_at && *after.expires_at <= now) {
    return "token.expire";
  }
  return "token.update";
}

// A conditional change whose row moved under it is decided again on the new state; a few
// rounds settle any realistic contention.
constexpr int kChangeAttempts = 8;

ApiToken Changed(ApiToken token, const TokenChange& change) {
  change.ApplyTo(token);
  return token;
}

constexpr TimeMs kForever = std::numeric_limits<TimeMs>::max();

// The time until which `token` is usable: `now` when it is not usable now, kForever when it is
// Active without expiry.
TimeMs UsableUntil(const ApiToken& token, TimeMs now) {
  if (!token.UsableAt(now)) return now;
  return token.expires_at.value_or(kForever);
}

// The organization must never lose its management API (API.md §6, 409 id 9003): a change that
// shortens how long an organization token stays usable (block, revoke, an expiry set or moved
// earlier, however far ahead) needs another Active organization token that stays usable at
// least as long as this one would have; for a token without expiry, one without expiry too.
// Returns the time the other token must be usable at (TokenChangeCondition), or nullopt when
// the change shortens nothing.
std::optional<TimeMs> OtherTokenNeededUntil(const ApiToken& before, const ApiToken& after,
                                            TimeMs now) {
  if (before.scope != TokenScope::kOrganization) return std::nullopt;
  const TimeMs until = UsableUntil(before, now);
  if (UsableUntil(after, now) >= until) return std::nullopt;
  return until == kForever ? kForever : until - 1;
}

}  // namespace

TokenDirectory::TokenDirectory(Store& store, const Keyring& keyring, TokenCache& cache,
                               const Clock& clock, bool keep_sealed)
    : store_(store), keyring_(keyring), cache_(cache), clock_(clock), keep_sealed_(keep_sealed) {}

IssuedToken TokenDirectory::Mint(const TokenSpec& spec, TimeMs now,
                                 TokenCredential& credential) const {
  IssuedToken issued;
  issued.secret = GenerateSecret(spec.scope == TokenScope::kOrganization ? SecretKind::kOrganization
                                                                         : SecretKind::kProject);
  ApiToken& token = issued.token;
  token.id = NewUuid();
  token.organization_id = spec.organization_id;
  token.project_id = spec.project_id;
  token.project_name = spec.project_name;
  token.scope = spec.scope;
  token.name = spec.name;
  token.description = spec.description;
  token.status = spec.status;
  token.created_at = now;
  token.updated_at = now;
  token.expires_at = spec.expires_at;
  token.rate_limit_per_minute = spec.rate_limit_per_minute;
  token.permissions = spec.permissions;
  token.secret_prefix = issued.secret.substr(0, kSecretPrefixLength);
  credential =
      TokenCredential{keyring_.Hash(issued.secret), std::nullopt, std::nullopt, std::nullopt};
  if (keep_sealed_) credential.sealed = keyring_.Seal(issued.secret);
  return issued;
}

void TokenDirectory::Publish(const ApiToken& token, const TokenCredential& credential) {
  std::lock_guard lock(written_mutex_);
  cache_.Put(token, credential);
  if (reading_) written_ids_.insert(token.id);
}

Status TokenDirectory::PublishStored(const std::string& organization_id,
                                     const std::string& token_id, const ApiToken& written,
                                     const TokenCredential* credential) {
  std::lock_guard lock(publish_mutex_);
  auto token = store_.FindToken(organization_id, token_id);
  auto stored = token ? store_.FindCredential(token_id)
                      : Result<std::optional<TokenCredential>>(std::unexpected(token.error()));
  if (!stored) {
    // The store cannot be read again: what this write stored, failing closed. A token it made
    // unusable leaves the cache (refused as unknown rather than used); a usable one is put as
    // written when its credential is at hand (the next sync corrects another writer's change).
    if (!written.UsableAt(clock_.Now())) {
      Unpublish(token_id);
    } else if (credential) {
      Publish(written, *credential);
    }
    return std::unexpected(stored.error());
  }
  if (!*token || (*token)->status == TokenStatus::kRevoked || !*stored) {
    Unpublish(token_id);
    return {};
  }
  Publish(**token, **stored);
  return {};
}

void TokenDirectory::Unpublish(const std::string& token_id) {
  std::lock_guard lock(written_mutex_);
  cache_.Remove(token_id);
  if (reading_) written_ids_.insert(token_id);
}

void TokenDirectory::BeginRead() {
  std::lock_guard lock(written_mutex_);
  reading_ = true;
}

void TokenDirectory::PutRead(const ApiToken& token, const TokenCredential& credential) {
  std::lock_guard lock(written_mutex_);
  if (!written_ids_.contains(token.id)) cache_.Put(token, credential);
}

void TokenDirectory::EndRead() {
  std::lock_guard lock(written_mutex_);
  reading_ = false;
  written_ids_.clear();
}

Result<IssuedToken> TokenDirectory::Create(const TokenSpec& spec, const AuditActor& actor) {
  std::promise<Result<IssuedToken>> promise;
  auto created = promise.get_future();
  Create(spec, actor,
         [&promise](Result<IssuedToken> issued) { promise.set_value(std::move(issued)); });
  return created.get();
}

void TokenDirectory::Create(const TokenSpec& spec, const AuditActor& actor, CreatedCallback done) {
  TokenInsert insert;
  const TimeMs now = clock_.Now();
  IssuedToken issued = Mint(spec, now, insert.credential);
  const ApiToken& token = issued.token;
  AuditDetails details;
  details.Set("name", token.name);
  details.Set("description", token.description);
  details.Set("scope", ToString(token.scope));
  details.Set("status", ToString(token.status));
  if (!token.project_id.empty()) details.Set("projectId", token.project_id);
  if (token.expires_at) details.Set("expiresAt", TimeJson(token.expires_at));
  if (token.rate_limit_per_minute) details.Set("rateLimitPerMinute", *token.rate_limit_per_minute);
  SetPermissionDetails(details, token.permissions);
  insert.audit = TokenAudit(actor, token, "token.create", now, details);
  insert.token = std::move(issued.token);
  store_.QueueTokenInsert(std::move(insert),
                          [this, secret = std::move(issued.secret), done = std::move(done)](
                              TokenInsert& stored, Status outcome) mutable {
                            if (!outcome) return done(std::unexpected(outcome.error()));
                            Publish(stored.token, stored.credential);
                            done(IssuedToken{std::move(stored.token), std::move(secret)});
                          });
}

Result<ApiToken> TokenDirectory::Find(const std::string& organization_id,
                                      const std::string& token_id) {
  auto found = store_.FindToken(organization_id, token_id);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kApiTokenNotFound);
  ApplyLiveUsage(cache_, **found);
  return std::move(**found);
}

Result<ApiToken> TokenDirectory::Update(const std::string& organization_id,
                                        const std::string& token_id, const TokenChange& change,
                                        const AuditActor& actor) {
  return Apply(organization_id, token_id, change, actor, ChangeRules{});
}

Result<ApiToken> TokenDirectory::RevokeLeaked(const std::string& organization_id,
                                              const std::string& token_id, std::string_view source,
                                              std::string_view url, const AuditActor& actor) {
  TokenChange change;
  change.status = TokenStatus::kRevoked;
  ChangeRules rules;
  rules.action = "token.leaked";
  rules.notes = {{"source", std::string(source)}, {"url", std::string(url)}};
  rules.keep_organization_access = false;
  return Apply(organization_id, token_id, change, actor, rules);
}

Result<ApiToken> TokenDirectory::Apply(const std::string& organization_id,
                                       const std::string& token_id, const TokenChange& change,
                                       const AuditActor& actor, const ChangeRules& rules) {
  const TimeMs now = clock_.Now();
  auto audit = [&actor, &rules, now](const ApiToken& before, const ApiToken& after) {
    AuditDetails details;
    details.Change("name", before.name, after.name);
    details.Change("description", before.description, after.description);
    details.Change("status", ToString(before.status), ToString(after.status));
    details.Change("expiresAt", TimeJson(before.expires_at), TimeJson(after.expires_at));
    details.Change("rateLimitPerMinute", OptionalJson(before.rate_limit_per_minute),
                   OptionalJson(after.rate_limit_per_minute));
    ChangePermissionDetails(details, before.permissions, after.permissions);
    for (const auto& [field, value] : rules.notes) details.Note(field, boost::json::string(value));
    return std::optional<AuditEntry>(
        TokenAudit(actor, after, rules.action.empty() ? ActionOf(before, after, now) : rules.action,
                   now, details));
  };
  std::optional<ApiToken> token;
  for (int attempt = 0; attempt < kChangeAttempts && !token; ++attempt) {
    auto current = store_.FindToken(organization_id, token_id);
    if (!current) return std::unexpected(current.error());
    if (!*current || (*current)->status == TokenStatus::kRevoked) {
      return Fail(ErrorCode::kApiTokenNotFound);
    }
    // A token usable again (unblocked, or its expiry moved past now) does not bring back the
    // console sessions it had: they end before the change is stored, everywhere. They are
    // those opened until it became unusable (its block, stamped updated_at, or its expiry):
    // none opened since, so the time it stayed unusable is the margin for nodes' clocks, and
    // a sign-in right after the change is never caught.
    if (!(*current)->UsableAt(now) && Changed(**current, change).UsableAt(now)) {
      const TimeMs unusable_since = std::min(now, (*current)->status == TokenStatus::kBlocked
                                                      ? (*current)->updated_at
                                                      : (*current)->expires_at.value_or(now));
      const EndedSession end = TokenSessionsEnd(token_id, unusable_since);
      auto ended = store_.AddConsoleSignOuts({ConsoleSignOut{end.session_id, end.expires_at, now}});
      if (!ended) return std::unexpected(ended.error());
      if (ConsoleSessions* sessions = sessions_.load()) {
        sessions->EndTokenSessions(token_id, unusable_since);
      }
    }
    TokenChangeCondition condition;
    condition.expected_status = (*current)->status;
    condition.expected_expires_at = (*current)->expires_at;
    if (rules.keep_organization_access) {
      condition.other_organization_token_usable_at =
          OtherTokenNeededUntil(**current, Changed(**current, change), now);
    }
    auto changed = store_.ChangeToken(organization_id, token_id, change, now, condition, audit);
    if (!changed) return std::unexpected(changed.error());
    switch (changed->outcome) {
      case TokenChangeResult::Outcome::kApplied:
        token = std::move(changed->token);
        break;
      case TokenChangeResult::Outcome::kNoOtherUsableOrganizationToken:
        return Fail(ErrorCode::kLastOrganizationToken);
      case TokenChangeResult::Outcome::kStateChanged:
        break;
    }
  }
  if (!token) return Fail(ErrorCode::kInternal, {}, "token kept changing during an update");
  if (auto published = PublishStored(organization_id, token_id, *token, nullptr); !published) {
    return std::unexpected(published.error());
  }
  ApplyLiveUsage(cache_, *token);
  return std::move(*token);
}

Result<ApiToken> TokenDirectory::Revoke(const std::string& organization_id,
                                        const std::string& token_id, const AuditActor& actor) {
  TokenChange change;
  change.status = TokenStatus::kRevoked;
  return Update(organization_id, token_id, change, actor);
}

Result<std::string> TokenDirectory::Reveal(const std::string& organization_id,
                                           const std::string& token_id, const AuditActor& actor) {
  auto token = Find(organization_id, token_id);
  if (!token) return std::unexpected(token.error());
  if (token->status == TokenStatus::kRevoked) return Fail(ErrorCode::kApiTokenNotFound);
  if (!keep_sealed_) return Fail(ErrorCode::kApiTokenNotFound, {}, "reveal=never");
  auto credential = store_.FindCredential(token_id);
  if (!credential) return std::unexpected(credential.error());
  if (!*credential || !(*credential)->sealed) {
    return Fail(ErrorCode::kApiTokenNotFound, {}, "no sealed copy (reveal=never)");
  }
  auto secret = keyring_.Open(*(*credential)->sealed);
  if (!secret) return Fail(ErrorCode::kInternal, {}, "sealed secret does not open with this key");
  if (auto audited =
          store_.AppendAudit(TokenAudit(actor, *token, "token.reveal", clock_.Now(), {}));
      !audited) {
    return std::unexpected(audited.error());
  }
  return std::move(*secret);
}

Result<IssuedToken> TokenDirectory::Rotate(const std::string& organization_id,
                                           const std::string& token_id, int grace_seconds,
                                           const AuditActor& actor) {
  // The credential is replaced only while the token keeps the status read here: a block,
  // unblock or revocation in between makes the rotation read the token again (a revoked one is
  // then not found), so that it never publishes or answers a status that is no longer true.
  return RetryOnConflict(
      [&] { return RotateOnce(organization_id, token_id, grace_seconds, actor); });
}

Result<IssuedToken> TokenDirectory::RotateOnce(const std::string& organization_id,
                                               const std::string& token_id, int grace_seconds,
                                               const AuditActor& actor) {
  auto token = Find(organization_id, token_id);
  if (!token) return std::unexpected(token.error());
  if (token->status == TokenStatus::kRevoked) return Fail(ErrorCode::kApiTokenNotFound);
  auto old_credential = store_.FindCredential(token_id);
  if (!old_credential) return std::unexpected(old_credential.error());
  if (!*old_credential) return Fail(ErrorCode::kApiTokenNotFound);

  const TimeMs now = clock_.Now();
  TokenSpec spec{token->scope,
                 token->organization_id,
                 token->project_id,
                 token->project_name,
                 token->name,
                 token->description,
                 token->status,
                 token->expires_at,
                 token->rate_limit_per_minute,
                 token->permissions};
  TokenCredential credential;
  IssuedToken fresh = Mint(spec, now, credential);
  if (grace_seconds > 0) {
    credential.previous_hash = (*old_credential)->secret_hash;
    credential.previous_valid_until = now + grace_seconds * 1000LL;
  }
  token->secret_prefix = fresh.token.secret_prefix;
  token->updated_at = now;
  AuditDetails details;
  details.Note("graceSeconds", grace_seconds);
  const AuditEntry audit = TokenAudit(actor, *token, "token.rotate", now, details);
  if (auto stored = store_.UpdateCredential(token_id, credential, token->secret_prefix,
                                            token->status, now, &audit);
      !stored) {
    return std::unexpected(stored.error());
  }
  // Failing here, the rotation stands (its secret is the answer): what it stored is published.
  (void)PublishStored(token->organization_id, token_id, *token, &credential);
  return IssuedToken{std::move(*token), std::move(fresh.secret)};
}

Result<TokenPage> TokenDirectory::Search(const TokenQuery& query) {
  // Sorting by lastUsedAt should see the uses still held in memory. The flush is a write: when
  // the writer is busy the search goes on with the order the store has (the values shown are
  // the live ones either way), so that a read never waits on writers.
  if (query.order_key == TokenOrderKey::kLastUsedAt) (void)FlushUsage();
  auto page = store_.SearchTokens(query);
  if (!page) return page;
  for (auto& token : page->tokens) ApplyLiveUsage(cache_, token);
  return page;
}

Result<std::vector<ApiToken>> TokenDirectory::ListLive(const std::string& organization_id,
                                                       TokenScope scope,
                                                       const std::string& project_id) {
  TokenQuery query;
  query.organization_id = organization_id;
  query.scope = scope;
  query.project_id = project_id;
  query.statuses = {TokenStatus::kActive, TokenStatus::kBlocked};
  auto page = Search(query);
  if (!page) return std::unexpected(page.error());
  return std::move(page->tokens);
}

Result<std::unique_ptr<TokenCursor>> TokenDirectory::OpenLiveProjectTokens(
    const std::string& organization_id, const std::string& project_id, std::int64_t page_rows) {
  auto stored = store_.OpenProjectTokens(organization_id, project_id, page_rows);
  if (!stored) return std::unexpected(stored.error());
  return std::make_unique<LiveUsageCursor>(std::move(*stored), cache_);
}

Status TokenDirectory::LoadCache() {
  std::lock_guard lock(sync_mutex_);
  const auto started = store_.ChangeMark(clock_.Now());
  if (!started) return std::unexpected(started.error());
  if (auto count = store_.CountLiveTokens(); count && *count > 0) {
    cache_.Reserve(static_cast<std::size_t>(*count));
  }
  BeginRead();
  auto loaded =
      store_.ForEachLiveToken([this](const ApiToken& token, const TokenCredential& credential) {
        PutRead(token, credential);
      });
  EndRead();
  if (loaded) synced_until_ = *started;
  return loaded;
}

Status TokenDirectory::SyncCache() {
  std::lock_guard lock(sync_mutex_);
  // Never 0: the store reads "since 0" as a first load, which leaves revoked tokens out.
  return SyncSince(std::max<TimeMs>(synced_until_ - kSyncOverlapMs, 1));
}

Status TokenDirectory::SyncSince(TimeMs since) {
  const TimeMs now = clock_.Now();
  const auto started = store_.ChangeMark(now);
  if (!started) return std::unexpected(started.error());
  // Every sync re-reads the changes since the mark: say why when that stays large.
  if (now - *started > kMarkBehindWarningMs && now - mark_warned_at_ > kMarkBehindWarningMs) {
    mark_warned_at_ = now;
    spdlog::warn(
        "token cache: the store's change mark is {} s behind this node's clock (a transaction "
        "writing for that long, see pg_stat_activity; or this clock is ahead): each sync "
        "re-reads the token changes made since, at most 10 minutes of them",
        (now - *started) / 1000);
  }
  BeginRead();
  auto synced = store_.ForEachTokenChangedSince(
      std::max<TimeMs>(since, 0), [this](const ApiToken& token, const TokenCredential& credential) {
        PutRead(token, credential);
      });
  EndRead();
  if (synced) synced_until_ = *started;
  return synced;
}

Status TokenDirectory::FlushUsage() {
  auto uses = cache_.TakeLastUsed();
  auto recorded = store_.RecordLastUsed(uses);
  // What was not stored (all of it after a failure) is kept for the next flush rather than lost.
  for (const auto& [token_id, at] : recorded ? *recorded : uses) {
    if (auto token = cache_.FindById(token_id)) {
      cache_.MarkUsed(*token, at);  // a newer use recorded meanwhile stays
    }
  }
  if (!recorded) return std::unexpected(recorded.error());
  return {};
}

}  // namespace gatehouse
