#include <algorithm>
#include <unordered_set>

#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"

// The API-token part of PgStore.
namespace gatehouse {

using pg::Params;
using pg::Transaction;
using namespace pg;  // row readers and SQL helpers

namespace {

// Rows a full read of the tokens holds at once (a few megabytes).
constexpr int kChunkRows = 10000;

// How long a batch of token creations may wait for the clients of the previous ones.
constexpr std::chrono::microseconds kGatherWindow{500};

const std::string kSqlRevoked = std::to_string(kRevoked);
const std::string kSqlActive = std::to_string(StoredCode(TokenStatus::kActive));
const std::string kSqlOrganizationScope = std::to_string(StoredCode(TokenScope::kOrganization));

// A name taken by a live token of the same owner leaves no row (ON CONFLICT on the live-name
// index), so one refusal does not abort the transaction that holds other tokens.
const std::string kInsertToken =
    "INSERT INTO api_tokens(id, organization_id, project_id, scope, name, description, status, "
    "secret_hash, sealed_secret, secret_prefix, created_at, updated_at, expires_at, "
    "project_name, rate_limit_per_minute, permissions) VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, "
    "$7, $8, $9, $10, $11, $12, $13, COALESCE((SELECT name FROM projects WHERE id = $3), ''), "
    "$14, NULLIF($15, '')) "
    "ON CONFLICT (organization_id, COALESCE(project_id, ''), name) WHERE status <> " +
    kSqlRevoked + " DO NOTHING RETURNING 1";

Params TokenRow(const ApiToken& token, const TokenCredential& credential) {
  Params params;
  params.Text(token.id)
      .Text(token.organization_id)
      .Text(token.project_id)
      .Int(StoredCode(token.scope))
      .Text(token.name)
      .Text(token.description)
      .Int(StoredCode(token.status))
      .Bytes(credential.secret_hash)
      .OptionalBytes(credential.sealed)
      .Text(token.secret_prefix)
      .Int(token.created_at)
      .Int(token.updated_at)
      .OptionalInt(token.expires_at)
      .OptionalInt(token.rate_limit_per_minute)
      .Text(PermissionsToJson(token.permissions));
  return params;
}

Status VisitTokenRows(const Rows& rows,
                      const std::function<void(const ApiToken&, const TokenCredential&)>& visit) {
  for (int i = 0; i < rows.size(); ++i) visit(ReadToken(rows, i), ReadCredential(rows, i));
  return {};
}

const std::string kInsertMany =
    "INSERT INTO api_tokens(id, organization_id, project_id, scope, name, description, status, "
    "secret_hash, sealed_secret, secret_prefix, created_at, updated_at, expires_at, "
    "project_name, rate_limit_per_minute, permissions) "
    "SELECT u.id, u.organization_id, u.project_id, u.scope, u.name, u.description, u.status, "
    "u.secret_hash, u.sealed_secret, u.secret_prefix, u.created_at, u.updated_at, u.expires_at, "
    "COALESCE(p.name, ''), u.rate_limit_per_minute, u.permissions "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::text[], "
    "$7::smallint[], $8::bytea[], $9::bytea[], $10::text[], $11::bigint[], $12::bigint[], "
    "$13::bigint[], $14::bigint[], $15::text[]) WITH ORDINALITY AS u(id, organization_id, "
    "project_id, scope, name, description, status, secret_hash, sealed_secret, secret_prefix, "
    "created_at, updated_at, expires_at, rate_limit_per_minute, permissions, n) "
    "LEFT JOIN projects p ON p.id = u.project_id "
    // A project deleted meanwhile takes no token (the delete revoked those it had). FOR SHARE
    // waits for a delete in progress and then sees its outcome; a delete that starts later
    // waits for this transaction, and its revocation then sees the new token.
    "WHERE u.project_id IS NULL OR EXISTS (SELECT 1 FROM projects lp WHERE lp.id = u.project_id "
    "AND lp.deleted_at IS NULL FOR SHARE) ORDER BY u.n "
    "ON CONFLICT (organization_id, COALESCE(project_id, ''), name) WHERE status <> " +
    kSqlRevoked + " DO NOTHING RETURNING id";

// Tokens [first, end) as the fifteen arrays of kInsertMany.
Params TokenArrays(const std::vector<std::pair<ApiToken, TokenCredential>>& tokens,
                   std::size_t first, std::size_t end) {
  ArrayLiteral ids, organizations, projects, scopes, names, descriptions, statuses, hashes, sealed,
      prefixes, created, updated, expires, rates, permissions;
  for (std::size_t i = first; i < end; ++i) {
    const auto& [token, credential] = tokens[i];
    const std::string permission_list = PermissionsToJson(token.permissions);
    ids.Text(token.id);
    organizations.Text(token.organization_id);
    token.project_id.empty() ? projects.Null() : projects.Text(token.project_id);
    scopes.Int(StoredCode(token.scope));
    names.Text(token.name);
    descriptions.Text(token.description);
    statuses.Int(StoredCode(token.status));
    hashes.Bytes(credential.secret_hash);
    sealed.OptionalBytes(credential.sealed);
    prefixes.Text(token.secret_prefix);
    created.Int(token.created_at);
    updated.Int(token.updated_at);
    expires.OptionalInt(token.expires_at);
    rates.OptionalInt(token.rate_limit_per_minute);
    permission_list.empty() ? permissions.Null() : permissions.Text(permission_list);
  }
  Params params;
  for (ArrayLiteral* column :
       {&ids, &organizations, &projects, &scopes, &names, &descriptions, &statuses, &hashes,
        &sealed, &prefixes, &created, &updated, &expires, &rates, &permissions}) {
    params.Array(*column);
  }
  return params;
}

// Walks a project's live tokens in pages, each page one statement continuing strictly after
// the last token returned (keyset on name without case, status and storage order).
class PgTokenCursor final : public TokenCursor {
 public:
  PgTokenCursor(pg::ConnectionPool& pool, std::string organization_id, std::string project_id,
                std::int64_t page_rows)
      : pool_(pool),
        organization_id_(std::move(organization_id)),
        project_id_(std::move(project_id)),
        page_rows_(std::max<std::int64_t>(page_rows, 1)) {}

  Result<bool> Next(ApiToken& token) override {
    if (position_ == page_.size()) {
      if (done_) return false;
      if (auto fetched = FetchPage(); !fetched) return std::unexpected(fetched.error());
      if (page_.empty()) return false;
    }
    token = std::move(page_[position_++]);
    return true;
  }

 private:
  Status FetchPage() {
    page_.clear();
    position_ = 0;
    auto c = pool_.Acquire();
    if (!c) return std::unexpected(c.error());
    static const std::string kPage =
        std::string("SELECT ") + kTokenFields + ", lower(t.name) COLLATE \"C\", t.seq" +
        kTokenFrom + " WHERE t.project_id = $1 AND t.organization_id = $2 AND t.status <> " +
        kSqlRevoked +
        " AND (lower(t.name) COLLATE \"C\", t.status, t.seq) > ($4 COLLATE \"C\", $5, $6)"
        " ORDER BY lower(t.name) COLLATE \"C\", t.status, t.seq LIMIT $3";
    auto rows = (*c)->Exec(kPage, Params()
                                      .Text(project_id_)
                                      .Text(organization_id_)
                                      .Int(page_rows_)
                                      .Text(last_name_)
                                      .Int(last_status_)
                                      .Int(last_seq_));
    if (!rows) return std::unexpected(rows.error());
    for (int i = 0; i < rows->size(); ++i) page_.push_back(ReadToken(*rows, i));
    if (rows->size() < page_rows_) done_ = true;
    if (!rows->empty()) {
      const int last = rows->size() - 1;
      last_name_ = rows->Text(last, 20);
      last_status_ = rows->Int(last, 7);
      last_seq_ = rows->Int(last, 21);
    }
    return {};
  }

  pg::ConnectionPool& pool_;
  const std::string organization_id_;
  const std::string project_id_;
  const std::int64_t page_rows_;
  std::vector<ApiToken> page_;
  std::size_t position_ = 0;
  bool done_ = false;
  std::string last_name_;
  std::int64_t last_status_ = -1;
  std::int64_t last_seq_ = 0;
};

}  // namespace

void PgStore::QueueTokenInsert(TokenInsert insert, TokenInsertDone done) {
  bool first;
  {
    std::lock_guard queue(token_queue_mutex_);
    token_queue_.push_back(QueuedToken{std::move(insert), std::move(done)});
    first = token_queue_.size() == 1;
  }
  if (first) token_queued_.notify_one();
}

// Group commit, as on SQLite: the writer takes every token queued while it stored the previous
// batch (after a short gathering window), so one round trip to COMMIT serves them all.
void PgStore::WriteQueuedTokens() {
  std::vector<QueuedToken> batch;
  std::vector<TokenInsert*> inserts;
  for (;;) {
    {
      std::unique_lock queue(token_queue_mutex_);
      token_queued_.wait(queue, [&] { return closing_ || !token_queue_.empty(); });
      if (token_queue_.empty()) return;  // closing, and nothing is left to store
      if (!closing_) {
        queue.unlock();
        std::this_thread::sleep_for(kGatherWindow);
        queue.lock();
      }
      batch.swap(token_queue_);
    }
    inserts.clear();
    for (QueuedToken& queued : batch) inserts.push_back(&queued.insert);
    std::vector<Status> outcomes = StoreTokenBatch(inserts);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].done(batch[i].insert, std::move(outcomes[i]));
    }
    batch.clear();
  }
}

// The batch as one statement of arrays (kInsertMany, in queue order, so that of two with one
// name the first is stored) and the stored ones' audit events as another, in one transaction:
// four round trips a batch however many tokens it holds.
std::vector<Status> PgStore::StoreTokenBatch(const std::vector<TokenInsert*>& batch) {
  std::vector<Status> outcomes;
  auto stored = StoreTokensIn(batch);
  if (!stored) {
    outcomes.assign(batch.size(), Status(std::unexpected(stored.error())));
    return outcomes;
  }
  outcomes.reserve(batch.size());
  for (const TokenInsert* insert : batch) {
    outcomes.push_back(OutcomeOf(*stored, insert->token));
  }
  return outcomes;
}

Result<PgStore::StoredTokens> PgStore::StoreTokensIn(const std::vector<TokenInsert*>& batch) {
  auto c = writer_.Acquire();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  std::vector<std::pair<ApiToken, TokenCredential>> rows;
  rows.reserve(batch.size());
  for (const TokenInsert* insert : batch) rows.emplace_back(insert->token, insert->credential);
  auto inserted = (*c)->Exec(kInsertMany, TokenArrays(rows, 0, rows.size()));
  if (!inserted) return std::unexpected(inserted.error());
  StoredTokens stored;
  for (int i = 0; i < inserted->size(); ++i) stored.ids.insert(inserted->Text(i, 0));
  if (auto gone = GoneProjectsIn(**c, rows, stored); !gone) return std::unexpected(gone.error());
  // The creations' audit events ride in the same transaction as their tokens.
  std::vector<const AuditEntry*> audits;
  for (const TokenInsert* insert : batch) {
    if (insert->audit && stored.ids.contains(insert->token.id)) {
      audits.push_back(&*insert->audit);
    }
  }
  if (auto audited = AppendAuditsIn(**c, audits); !audited) {
    return std::unexpected(audited.error());
  }
  if (auto notified = NotifyChange(**c); !notified) return std::unexpected(notified.error());
  if (auto committed = transaction.Commit(); !committed) return std::unexpected(committed.error());
  return stored;
}

// A statement per kInsertChunk tokens, all in one transaction: the rows go in as arrays, in
// order, so that of two tokens of the batch with one name the first is stored (as one INSERT a
// token would do), and no statement runs near the statement timeout.
Result<std::vector<Status>> PgStore::InsertTokens(
    const std::vector<std::pair<ApiToken, TokenCredential>>& tokens) {
  constexpr std::size_t kInsertChunk = 1000;
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  StoredTokens stored;
  for (std::size_t first = 0; first < tokens.size(); first += kInsertChunk) {
    const std::size_t end = std::min(tokens.size(), first + kInsertChunk);
    auto inserted = (*c)->Exec(kInsertMany, TokenArrays(tokens, first, end));
    if (!inserted) return std::unexpected(inserted.error());
    for (int i = 0; i < inserted->size(); ++i) stored.ids.insert(inserted->Text(i, 0));
  }
  if (auto gone = GoneProjectsIn(**c, tokens, stored); !gone) {
    return std::unexpected(gone.error());
  }
  if (auto notified = NotifyChange(**c); !notified) return std::unexpected(notified.error());
  if (auto committed = transaction.Commit(); !committed) {
    return std::unexpected(committed.error());
  }
  std::vector<Status> outcomes;
  outcomes.reserve(tokens.size());
  for (const auto& [token, credential] : tokens) outcomes.push_back(OutcomeOf(stored, token));
  return outcomes;
}

// Of the tokens of `rows` that were not stored, the projects that are not live (deleted, or
// never there): their tokens were refused for that, not for their names. Asked only when a
// token was refused.
Status PgStore::GoneProjectsIn(pg::Connection& c,
                               const std::vector<std::pair<ApiToken, TokenCredential>>& rows,
                               StoredTokens& stored) {
  std::vector<std::string> asked;
  for (const auto& [token, credential] : rows) {
    if (!token.project_id.empty() && !stored.ids.contains(token.id)) {
      asked.push_back(token.project_id);
    }
  }
  if (asked.empty()) return {};
  auto live = c.Exec("SELECT id FROM projects WHERE id = ANY($1::text[]) AND deleted_at IS NULL",
                     Params().TextArray(asked));
  if (!live) return std::unexpected(live.error());
  std::unordered_set<std::string> live_ids;
  for (int i = 0; i < live->size(); ++i) live_ids.insert(live->Text(i, 0));
  for (std::string& id : asked) {
    if (!live_ids.contains(id)) stored.gone_projects.insert(std::move(id));
  }
  return {};
}

Status PgStore::OutcomeOf(const StoredTokens& stored, const ApiToken& token) {
  if (stored.ids.contains(token.id)) return {};
  if (stored.gone_projects.contains(token.project_id)) return Fail(ErrorCode::kProjectNotFound);
  return Fail(ErrorCode::kTokenNameExists);
}

Status PgStore::InsertTokenIn(pg::Connection& c, const ApiToken& token,
                              const TokenCredential& credential) {
  auto inserted = c.Exec(kInsertToken, TokenRow(token, credential));
  if (!inserted) return std::unexpected(inserted.error());
  if (inserted->empty()) return Fail(ErrorCode::kTokenNameExists);
  return {};
}

Result<std::optional<ApiToken>> PgStore::FindToken(const std::string& organization_id,
                                                   const std::string& token_id) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return FindTokenIn(**c, organization_id, token_id, false);
}

Result<std::optional<ApiToken>> PgStore::FindTokenIn(pg::Connection& c,
                                                     const std::string& organization_id,
                                                     const std::string& token_id, bool for_update) {
  auto rows = c.Exec("SELECT " + kTokenColumns + " WHERE t.id = $1 AND t.organization_id = $2" +
                         (for_update ? " FOR UPDATE OF t" : ""),
                     Params().Text(token_id).Text(organization_id));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<ApiToken>();
  return std::optional<ApiToken>(ReadToken(*rows, 0));
}

Result<std::optional<TokenCredential>> PgStore::FindCredential(const std::string& token_id) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec("SELECT " + kTokenColumns + " WHERE t.id = $1", Params().Text(token_id));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<TokenCredential>();
  return std::optional<TokenCredential>(ReadCredential(*rows, 0));
}

Status PgStore::UpdateCredential(const std::string& token_id, const TokenCredential& credential,
                                 const std::string& secret_prefix, TokenStatus expected_status,
                                 TimeMs now, const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  auto updated = (*c)->Exec(
      "UPDATE api_tokens SET secret_hash = $2, sealed_secret = $3, previous_hash = $4, "
      "previous_valid_until = $5, updated_at = $6, secret_prefix = $7, "
      "changed_at_db = gatehouse_now_ms() WHERE id = $1 AND status = $8 RETURNING 1",
      Params()
          .Text(token_id)
          .Bytes(credential.secret_hash)
          .OptionalBytes(credential.sealed)
          .OptionalBytes(credential.previous_hash)
          .OptionalInt(credential.previous_valid_until)
          .Int(now)
          .Text(secret_prefix)
          .Int(StoredCode(expected_status)));
  if (!updated) return std::unexpected(updated.error());
  if (updated->empty()) return Fail(ErrorCode::kConflict, {}, "token changed meanwhile");
  if (auto done = NotifyChange(**c); !done) return done;
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  return transaction.Commit();
}

Status PgStore::DiscardSealedSecrets() {
  // Never a lock waited for while others are held: one UPDATE of every sealed row locked them
  // in its scan order and could deadlock with another node's write of several tokens (an
  // organization's deletion revoking them), failing this node's start. Passes of rows nobody
  // holds (SKIP LOCKED) first; then each row left, held by another transaction meanwhile, by
  // a statement of its own, which waits for that row alone.
  constexpr int kPass = 1000;
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  for (;;) {
    auto cleared = (*c)->Exec(
        "UPDATE api_tokens SET sealed_secret = NULL WHERE id IN (SELECT id FROM api_tokens "
        "WHERE sealed_secret IS NOT NULL LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED)",
        pg::Params().Int(kPass));
    if (!cleared) return std::unexpected(cleared.error());
    if (cleared->affected() == 0) break;
  }
  auto left = (*c)->Exec("SELECT id FROM api_tokens WHERE sealed_secret IS NOT NULL");
  if (!left) return std::unexpected(left.error());
  for (int row = 0; row < left->size(); ++row) {
    if (auto done = (*c)->Run("UPDATE api_tokens SET sealed_secret = NULL WHERE id = $1",
                              pg::Params().Text(left->Text(row, 0)));
        !done) {
      return done;
    }
  }
  return {};
}

Result<std::vector<std::pair<std::string, TimeMs>>> PgStore::RecordLastUsed(
    const std::vector<std::pair<std::string, TimeMs>>& uses) {
  // A statement per kChunk uses, each its own transaction: a last use touches every index of
  // its row (last_used_at is a sort key), so a flush of 50,000 uses in one statement outlasts
  // the statement timeout on a busy server. A failed flush is tried again whole (the caller
  // keeps the uses), which GREATEST makes harmless.
  //
  // Rows another transaction holds are skipped (SKIP LOCKED), never waited for: a write of
  // several tokens (an organization's or project's deletion revoking them) locks them in its
  // own order, and a flush waiting for one while holding another deadlocked with it, failing
  // one of the two after a second (the deletion, when PostgreSQL chose it: 503). Skipped uses
  // go back to the caller for the next flush.
  constexpr std::size_t kChunk = 2000;
  std::vector<std::pair<std::string, TimeMs>> left;
  if (uses.empty()) return left;
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  std::vector<std::string> ids;
  std::vector<std::int64_t> times;
  std::unordered_set<std::string> written;
  for (std::size_t first = 0; first < uses.size(); first += kChunk) {
    const std::size_t end = std::min(uses.size(), first + kChunk);
    ids.clear();
    times.clear();
    for (std::size_t i = first; i < end; ++i) {
      ids.push_back(uses[i].first);
      times.push_back(uses[i].second);
    }
    // A last use changes neither updated_at nor changed_at_db (caches keep their own).
    auto updated = (*c)->Exec(
        "WITH u AS (SELECT id, max(at) AS at FROM unnest($1::text[], $2::bigint[]) AS x(id, at) "
        "GROUP BY id), free AS (SELECT t.id, u.at FROM api_tokens t JOIN u ON t.id = u.id "
        "FOR NO KEY UPDATE OF t SKIP LOCKED) "
        "UPDATE api_tokens t SET last_used_at = GREATEST(COALESCE(t.last_used_at, 0), free.at) "
        "FROM free WHERE t.id = free.id RETURNING t.id",
        Params().TextArray(ids).IntArray(times));
    if (!updated) return std::unexpected(updated.error());
    written.clear();
    for (int row = 0; row < updated->size(); ++row) written.insert(updated->Text(row, 0));
    // A use of a token that no row holds any more is left too; the caller keeps only the
    // uses of tokens it still has.
    for (std::size_t i = first; i < end; ++i) {
      if (!written.contains(uses[i].first)) left.push_back(uses[i]);
    }
  }
  return left;
}

Status PgStore::ForEachTokenChangedSince(
    TimeMs since, const std::function<void(const ApiToken&, const TokenCredential&)>& visit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto each = [&visit](const Rows& rows) { (void)VisitTokenRows(rows, visit); };
  if (since > 0) {
    // A resync reads the few recent changes (a BitmapOr of the two time indexes).
    auto rows =
        (*c)->Exec("SELECT " + kTokenColumns + " WHERE t.updated_at >= $1 OR t.changed_at_db >= $1",
                   Params().Int(since));
    if (!rows) return std::unexpected(rows.error());
    each(*rows);
    return {};
  }
  return (*c)->ForEachChunk("SELECT " + kTokenColumns + " WHERE t.status <> " + kSqlRevoked,
                            Params(), kChunkRows, each);
}

Status PgStore::ForEachLiveToken(
    const std::function<void(const ApiToken&, const TokenCredential&)>& visit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  // ReadToken's columns, with constants in place of what the cache does not keep.
  static const std::string kSql =
      "SELECT t.id, t.organization_id, COALESCE(t.project_id, ''), t.project_name, t.scope, "
      "t.name, '', t.status, 0, 0, t.last_used_at, t.expires_at, '', t.secret_hash, NULL, "
      "t.previous_hash, t.previous_valid_until, t.rate_limit_per_minute, "
      "COALESCE(t.permissions, ''), COALESCE(o.name, '') FROM api_tokens t "
      "LEFT JOIN organizations o ON o.id = t.organization_id WHERE t.status <> " +
      kSqlRevoked;
  return (*c)->ForEachChunk(kSql, Params(), kChunkRows,
                            [&visit](const Rows& rows) { (void)VisitTokenRows(rows, visit); });
}

Result<std::int64_t> PgStore::CountLiveTokens() {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec("SELECT COALESCE(SUM(tokens), 0) FROM api_token_counts WHERE status <> " +
                         kSqlRevoked);
  if (!rows) return std::unexpected(rows.error());
  return rows->Int(0, 0);
}

Result<TokenChangeResult> PgStore::ChangeToken(const std::string& organization_id,
                                               const std::string& token_id,
                                               const TokenChange& change, TimeMs now,
                                               const TokenChangeCondition& condition,
                                               const AuditOfChange& audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  if (condition.other_organization_token_usable_at) {
    // Changes guarded by "another organization token stays usable" take the organization's
    // lock first, so two of them cannot each rely on the other token.
    if (auto locked = (*c)->Run("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE",
                                Params().Text(organization_id));
        !locked) {
      return std::unexpected(locked.error());
    }
  }
  auto current = FindTokenIn(**c, organization_id, token_id, true);
  if (!current) return std::unexpected(current.error());
  if (!*current || (*current)->status == TokenStatus::kRevoked) {
    return Fail(ErrorCode::kApiTokenNotFound);
  }
  TokenChangeResult result;
  result.token = std::move(**current);
  ApiToken& token = result.token;
  if ((condition.expected_status && *condition.expected_status != token.status) ||
      (condition.expected_expires_at && *condition.expected_expires_at != token.expires_at)) {
    result.outcome = TokenChangeResult::Outcome::kStateChanged;
    return result;
  }
  if (condition.other_organization_token_usable_at) {
    auto others = (*c)->Exec(
        "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE organization_id = $1 AND scope = " +
            kSqlOrganizationScope + " AND status = " + kSqlActive +
            " AND id <> $2 AND (expires_at IS NULL OR expires_at > $3))",
        Params()
            .Text(organization_id)
            .Text(token_id)
            .Int(*condition.other_organization_token_usable_at));
    if (!others) return std::unexpected(others.error());
    if (!others->Bool(0, 0)) {
      result.outcome = TokenChangeResult::Outcome::kNoOtherUsableOrganizationToken;
      return result;
    }
  }

  const ApiToken before = token;
  change.ApplyTo(token);
  token.updated_at = now;
  auto updated = (*c)->Run(
      "UPDATE api_tokens SET name = $3, description = $4, status = $5, expires_at = $6, "
      "updated_at = $7, rate_limit_per_minute = $8, permissions = NULLIF($9, ''), "
      "changed_at_db = gatehouse_now_ms() WHERE id = $1 AND organization_id = $2",
      Params()
          .Text(token_id)
          .Text(organization_id)
          .Text(token.name)
          .Text(token.description)
          .Int(StoredCode(token.status))
          .OptionalInt(token.expires_at)
          .Int(now)
          .OptionalInt(token.rate_limit_per_minute)
          .Text(PermissionsToJson(token.permissions)));
  if (!updated) {
    if (IsUniqueViolation((*c)->last_failure(), "api_tokens_live_name")) {
      return Fail(ErrorCode::kTokenNameExists);
    }
    return std::unexpected(updated.error());
  }
  if (auto done = NotifyChange(**c); !done) return std::unexpected(done.error());
  if (audit) {
    if (auto entry = audit(before, token)) {
      if (auto done = AppendAuditIn(**c, *entry); !done) return std::unexpected(done.error());
    }
  }
  if (auto committed = transaction.Commit(); !committed) {
    return std::unexpected(committed.error());
  }
  return result;
}

Result<std::unique_ptr<TokenCursor>> PgStore::OpenProjectTokens(const std::string& organization_id,
                                                                const std::string& project_id,
                                                                std::int64_t page_rows) {
  return std::unique_ptr<TokenCursor>(
      std::make_unique<PgTokenCursor>(pool_, organization_id, project_id, page_rows));
}

}  // namespace gatehouse
