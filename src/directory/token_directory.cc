#include "directory/token_directory.h"

#include <algorithm>

#include "auth/secret.h"
#include "core/ids.h"

namespace gatehouse {
namespace {

// A sync re-reads this much history so that a write committed with a slightly older
// timestamp than a concurrent one is not missed.
constexpr TimeMs kSyncOverlapMs = 5000;

// A conditional change whose row moved under it is decided again on the new state; a few
// rounds settle any realistic contention.
constexpr int kChangeAttempts = 8;

ApiToken Changed(ApiToken token, const TokenChange& change) {
  if (change.name) token.name = *change.name;
  if (change.description) token.description = *change.description;
  if (change.status) token.status = *change.status;
  if (change.expires_at) token.expires_at = *change.expires_at;
  return token;
}

// Blocking, revoking or expiring the last usable organization token would lock the
// organization out of its own management API (API.md §6, 409 id 9003).
bool EndsOrganizationAccess(const ApiToken& before, const ApiToken& after, TimeMs now) {
  return before.scope == TokenScope::kOrganization && before.UsableAt(now) && !after.UsableAt(now);
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
  token.secret_prefix = issued.secret.substr(0, kSecretPrefixLength);
  credential =
      TokenCredential{keyring_.Hash(issued.secret), std::nullopt, std::nullopt, std::nullopt};
  if (keep_sealed_) credential.sealed = keyring_.Seal(issued.secret);
  return issued;
}

void TokenDirectory::Publish(const ApiToken& token, const TokenCredential& credential) {
  cache_.Put(token, credential);
}

Result<IssuedToken> TokenDirectory::Create(const TokenSpec& spec) {
  TokenCredential credential;
  IssuedToken issued = Mint(spec, clock_.Now(), credential);
  if (auto stored = store_.InsertToken(issued.token, credential); !stored) {
    return std::unexpected(stored.error());
  }
  Publish(issued.token, credential);
  return issued;
}

Result<ApiToken> TokenDirectory::Find(const std::string& organization_id,
                                      const std::string& token_id) {
  auto found = store_.FindToken(organization_id, token_id);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kApiTokenNotFound);
  ApplyLiveUsage(**found);
  return std::move(**found);
}

Result<ApiToken> TokenDirectory::Update(const std::string& organization_id,
                                        const std::string& token_id, const TokenChange& change) {
  const TimeMs now = clock_.Now();
  std::optional<ApiToken> token;
  for (int attempt = 0; attempt < kChangeAttempts && !token; ++attempt) {
    auto current = store_.FindToken(organization_id, token_id);
    if (!current) return std::unexpected(current.error());
    if (!*current || (*current)->status == TokenStatus::kRevoked) {
      return Fail(ErrorCode::kApiTokenNotFound);
    }
    TokenChangeCondition condition;
    condition.expected_status = (*current)->status;
    condition.expected_expires_at = (*current)->expires_at;
    if (EndsOrganizationAccess(**current, Changed(**current, change), now)) {
      condition.other_organization_token_usable_at = now;
    }
    auto changed = store_.ChangeToken(organization_id, token_id, change, now, condition);
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
  if (token->status == TokenStatus::kRevoked) {
    cache_.Remove(token_id);
  } else {
    auto credential = store_.FindCredential(token_id);
    if (!credential) return std::unexpected(credential.error());
    if (*credential) Publish(*token, **credential);
  }
  ApplyLiveUsage(*token);
  return std::move(*token);
}

Result<ApiToken> TokenDirectory::Revoke(const std::string& organization_id,
                                        const std::string& token_id) {
  TokenChange change;
  change.status = TokenStatus::kRevoked;
  return Update(organization_id, token_id, change);
}

Result<std::string> TokenDirectory::Reveal(const std::string& organization_id,
                                           const std::string& token_id,
                                           const std::string& actor_token_id) {
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
  if (auto audited = store_.AppendAudit(
          AuditEntry{0, organization_id, actor_token_id, "token.reveal", token_id, clock_.Now()});
      !audited) {
    return std::unexpected(audited.error());
  }
  return std::move(*secret);
}

Result<IssuedToken> TokenDirectory::Rotate(const std::string& organization_id,
                                           const std::string& token_id, int grace_seconds,
                                           const std::string& actor_token_id) {
  auto token = Find(organization_id, token_id);
  if (!token) return std::unexpected(token.error());
  if (token->status == TokenStatus::kRevoked) return Fail(ErrorCode::kApiTokenNotFound);
  auto old_credential = store_.FindCredential(token_id);
  if (!old_credential) return std::unexpected(old_credential.error());
  if (!*old_credential) return Fail(ErrorCode::kApiTokenNotFound);

  const TimeMs now = clock_.Now();
  TokenSpec spec{token->scope, token->organization_id, token->project_id, token->project_name,
                 token->name,  token->description,     token->status,     token->expires_at};
  TokenCredential credential;
  IssuedToken fresh = Mint(spec, now, credential);
  if (grace_seconds > 0) {
    credential.previous_hash = (*old_credential)->secret_hash;
    credential.previous_valid_until = now + grace_seconds * 1000LL;
  }
  token->secret_prefix = fresh.token.secret_prefix;
  token->updated_at = now;
  if (auto stored = store_.UpdateCredential(token_id, credential, token->secret_prefix, now);
      !stored) {
    return std::unexpected(stored.error());
  }
  if (auto audited = store_.AppendAudit(
          AuditEntry{0, organization_id, actor_token_id, "token.rotate", token_id, now});
      !audited) {
    return std::unexpected(audited.error());
  }
  Publish(*token, credential);
  return IssuedToken{std::move(*token), std::move(fresh.secret)};
}

Result<TokenPage> TokenDirectory::Search(const TokenQuery& query) {
  // Sorting by lastUsedAt must see the uses still held in memory.
  if (auto flushed = FlushUsage(); !flushed) return std::unexpected(flushed.error());
  auto page = store_.SearchTokens(query);
  if (!page) return page;
  for (auto& token : page->tokens) ApplyLiveUsage(token);
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

void TokenDirectory::ApplyLiveUsage(ApiToken& token) const {
  if (auto cached = cache_.FindById(token.id)) {
    const TimeMs used = cached->last_used_at.load(std::memory_order_relaxed);
    if (used > token.last_used_at.value_or(0)) token.last_used_at = used;
  }
}

Status TokenDirectory::LoadCache() {
  std::lock_guard lock(sync_mutex_);
  return SyncSince(0);
}

Status TokenDirectory::SyncCache() {
  std::lock_guard lock(sync_mutex_);
  // Never 0: the store reads "since 0" as a first load, which leaves revoked tokens out.
  return SyncSince(std::max<TimeMs>(synced_until_ - kSyncOverlapMs, 1));
}

Status TokenDirectory::SyncSince(TimeMs since) {
  const TimeMs started = clock_.Now();
  auto synced = store_.ForEachTokenChangedSince(
      std::max<TimeMs>(since, 0), [this](const ApiToken& token, const TokenCredential& credential) {
        cache_.Put(token, credential);
      });
  if (synced) synced_until_ = started;
  return synced;
}

Status TokenDirectory::FlushUsage() {
  auto uses = cache_.TakeLastUsed();
  auto recorded = store_.RecordLastUsed(uses);
  if (!recorded) {
    // Keep them for the next flush rather than losing them.
    for (const auto& [token_id, at] : uses) {
      if (auto token = cache_.FindById(token_id)) {
        cache_.MarkUsed(*token, std::max(at, token->last_used_at.load()));
      }
    }
  }
  return recorded;
}

}  // namespace gatehouse
