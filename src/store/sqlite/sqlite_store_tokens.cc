#include <algorithm>

#include "core/text.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

// The API-token part of SqliteStore.
namespace gatehouse {

using sqlite::Statement;
using sqlite::Transaction;
using namespace sqlite;  // row readers and SQL helpers

namespace {

// How long a batch of token creations may wait for the clients of the previous ones.
constexpr std::chrono::microseconds kGatherWindow{500};

// Steps `stmt` (token rows in ReadToken's column order) to its end, visiting each row.
Status VisitTokenRows(Statement& stmt,
                      const std::function<void(const ApiToken&, const TokenCredential&)>& visit) {
  for (;;) {
    auto row = stmt.Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
    visit(ReadToken(stmt), ReadCredential(stmt));
  }
}

// A refusal of one token of a batch (its name taken, its project gone), which leaves the
// transaction usable for the others.
bool IsRowRefusal(const Error& error) {
  return error.code() == ErrorCode::kTokenNameExists || error.code() == ErrorCode::kProjectNotFound;
}

}  // namespace

void SqliteStore::QueueTokenInsert(TokenInsert insert, TokenInsertDone done) {
  bool wake;
  {
    std::lock_guard queue(token_queue_mutex_);
    token_queue_.push_back(QueuedToken{std::move(insert), std::move(done)});
    // The writer waits for a first token, or while it gathers, for the number it expects;
    // while it stores a batch, later tokens just queue.
    wake = token_queue_.size() == 1 || token_queue_.size() == gather_target_;
  }
  if (wake) token_queued_.notify_one();
}

// Group commit: the thread takes every token queued while it stored the previous batch, so
// a batch holds as many creations as were waiting, and a token is acknowledged (`done`) only
// after the commit that holds it. Clients answered by one commit come back one by one while
// the next commit runs, so taking whatever is queued splits them into two alternating smaller
// batches (8.5 tokens on average with 16 clients); a batch therefore waits, at most
// kGatherWindow, until as many tokens are queued as the largest recent batch held.
void SqliteStore::WriteQueuedTokens() {
  std::vector<QueuedToken> batch;
  std::vector<TokenInsert*> inserts;
  std::size_t expected = 1;  // the largest recent batch, decaying by an eighth a batch
  for (;;) {
    {
      std::unique_lock queue(token_queue_mutex_);
      token_queued_.wait(queue, [&] { return closing_ || !token_queue_.empty(); });
      if (token_queue_.empty()) return;  // closing, and nothing is left to store
      if (token_queue_.size() < expected) {
        gather_target_ = expected;
        token_queued_.wait_for(queue, kGatherWindow,
                               [&] { return closing_ || token_queue_.size() >= expected; });
        gather_target_ = 0;
      }
      batch.swap(token_queue_);
    }
    expected = std::max(batch.size(), expected * 7 / 8);
    inserts.clear();
    for (QueuedToken& queued : batch) inserts.push_back(&queued.insert);
    std::vector<Status> outcomes = StoreTokenBatch(inserts);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].done(batch[i].insert, std::move(outcomes[i]));
    }
    batch.clear();
  }
}

std::vector<Status> SqliteStore::StoreTokenBatch(const std::vector<TokenInsert*>& batch) {
  std::vector<Status> outcomes;
  outcomes.reserve(batch.size());
  auto lock = LockWriter();
  std::optional<Error> failed;
  if (!lock) failed = lock.error();
  if (!failed) {
    Transaction transaction(db_);
    if (!transaction.begun()) failed = transaction.begun().error();
    std::vector<const ApiToken*> stored;
    stored.reserve(batch.size());
    for (const TokenInsert* insert : batch) {
      if (failed) break;
      auto inserted = InsertTokenRowLocked(insert->token, insert->credential);
      // A refused row leaves the transaction usable (SQLite undoes only that statement).
      if (!inserted && !IsRowRefusal(inserted.error())) failed = inserted.error();
      if (inserted) stored.push_back(&insert->token);
      // The creation's audit event rides in the same transaction as the token.
      if (inserted && insert->audit) {
        if (auto audited = AppendAuditLocked(*insert->audit); !audited) failed = audited.error();
      }
      outcomes.push_back(std::move(inserted));
    }
    if (!failed) {
      if (auto counted = AddTokenCountsLocked(stored); !counted) failed = counted.error();
    }
    if (!failed) {
      if (auto committed = transaction.Commit(); !committed) failed = committed.error();
    }
  }
  if (failed) outcomes.assign(batch.size(), Status(std::unexpected(*failed)));
  return outcomes;
}

Result<std::vector<Status>> SqliteStore::InsertTokens(
    const std::vector<std::pair<ApiToken, TokenCredential>>& tokens) {
  std::vector<Status> outcomes;
  outcomes.reserve(tokens.size());
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  std::vector<const ApiToken*> stored;
  stored.reserve(tokens.size());
  for (const auto& [token, credential] : tokens) {
    auto inserted = InsertTokenRowLocked(token, credential);
    // A refused row leaves the transaction usable (SQLite undoes only that statement); any
    // other failure ends the whole batch.
    if (!inserted && !IsRowRefusal(inserted.error())) return std::unexpected(inserted.error());
    if (inserted) stored.push_back(&token);
    outcomes.push_back(std::move(inserted));
  }
  if (auto counted = AddTokenCountsLocked(stored); !counted) {
    return std::unexpected(counted.error());
  }
  if (auto committed = transaction.Commit(); !committed) {
    return std::unexpected(committed.error());
  }
  return outcomes;
}

Status SqliteStore::InsertTokenLocked(const ApiToken& token, const TokenCredential& credential) {
  if (auto inserted = InsertTokenRowLocked(token, credential); !inserted) return inserted;
  return AddTokenCountsLocked({&token});
}

Status SqliteStore::InsertTokenRowLocked(const ApiToken& token, const TokenCredential& credential) {
  // Built once: the statement cache is keyed by the text, and a token creation is hot. Never
  // destroyed: the token writer thread may still be storing while a process exits.
  static const std::string& kInsertToken = *new std::string(
      "INSERT INTO api_tokens(id, organization_id, project_id, scope, name, description, status, "
      "secret_hash, sealed_secret, secret_prefix, created_at, updated_at, expires_at, "
      "project_name, rate_limit_per_minute, permissions) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
      "?9, ?10, ?11, ?12, ?13, COALESCE((SELECT name FROM projects WHERE id = ?3), ''), ?14, "
      "?15 WHERE ?3 IS NULL OR EXISTS (SELECT 1 FROM projects WHERE id = ?3 AND deleted_at IS "
      "NULL)");
  auto stmt = db_.Prepare(kInsertToken);
  if (!stmt) return std::unexpected(stmt.error());
  auto inserted = (*stmt)
                      ->Bind(1, token.id)
                      .Bind(2, token.organization_id)
                      .BindOrNull(3, token.project_id)
                      .Bind(4, StoredCode(token.scope))
                      .Bind(5, token.name)
                      .Bind(6, token.description)
                      .Bind(7, StoredCode(token.status))
                      .BindBlob(8, std::string_view(credential.secret_hash))
                      .BindBlob(9, credential.sealed)
                      .Bind(10, token.secret_prefix)
                      .Bind(11, token.created_at)
                      .Bind(12, token.updated_at)
                      .Bind(13, token.expires_at)
                      .Bind(14, token.rate_limit_per_minute)
                      .BindOrNull(15, PermissionsToJson(token.permissions))
                      .StepUnlessConstraint();
  if (!inserted) return std::unexpected(inserted.error());
  if (!*inserted) return Fail(ErrorCode::kTokenNameExists);
  // No row: the project was deleted after the caller found it (the delete revoked the tokens
  // it had; this one would have stayed live).
  if (db_.ChangedRows() == 0) return Fail(ErrorCode::kProjectNotFound);
  return {};
}

Status SqliteStore::AddTokenCountsLocked(const std::vector<const ApiToken*>& stored) {
  struct Group {
    const ApiToken* first;
    std::int64_t tokens;
  };
  // A batch is nearly always one organization's tokens of one status: a short linear list.
  std::vector<Group> groups;
  for (const ApiToken* token : stored) {
    auto same = std::find_if(groups.begin(), groups.end(), [token](const Group& group) {
      return group.first->organization_id == token->organization_id &&
             group.first->project_id == token->project_id && group.first->status == token->status;
    });
    if (same != groups.end()) {
      ++same->tokens;
    } else {
      groups.push_back(Group{token, 1});
    }
  }
  if (groups.empty()) return {};
  static const std::string& kAddCount = *new std::string(  // never destroyed, as above
      "INSERT INTO api_token_counts(organization_id, project_id, status, tokens) "
      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET tokens = tokens + excluded.tokens");
  auto stmt = db_.Prepare(kAddCount);
  if (!stmt) return std::unexpected(stmt.error());
  for (const Group& group : groups) {
    if (auto added = (*stmt)
                         ->Bind(1, group.first->organization_id)
                         .Bind(2, group.first->project_id)
                         .Bind(3, StoredCode(group.first->status))
                         .Bind(4, group.tokens)
                         .Run();
        !added) {
      return added;
    }
    (*stmt)->Reset();
  }
  return {};
}

Result<std::optional<ApiToken>> SqliteStore::FindToken(const std::string& organization_id,
                                                       const std::string& token_id) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  return FindTokenIn(db, organization_id, token_id);
}

Result<std::optional<ApiToken>> SqliteStore::FindTokenIn(sqlite::Database& db,
                                                         const std::string& organization_id,
                                                         const std::string& token_id) {
  auto stmt = db.Prepare(std::string("SELECT ") + kTokenColumns +
                         " WHERE t.id = ?1 AND t.organization_id = ?2");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, token_id).Bind(2, organization_id).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<ApiToken>();
  return std::optional<ApiToken>(ReadToken(**stmt));
}

Result<std::optional<TokenCredential>> SqliteStore::FindCredential(const std::string& token_id) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(std::string("SELECT ") + kTokenColumns + " WHERE t.id = ?1");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, token_id).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<TokenCredential>();
  return std::optional<TokenCredential>(ReadCredential(**stmt));
}

Status SqliteStore::UpdateCredential(const std::string& token_id, const TokenCredential& credential,
                                     const std::string& secret_prefix, TokenStatus expected_status,
                                     TimeMs now, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "UPDATE api_tokens SET secret_hash = ?2, sealed_secret = ?3, previous_hash = ?4, "
      "previous_valid_until = ?5, updated_at = ?6, secret_prefix = ?7 WHERE id = ?1 AND "
      "status = ?8");
  if (!stmt) return std::unexpected(stmt.error());
  if (auto done = (*stmt)
                      ->Bind(1, token_id)
                      .BindBlob(2, std::string_view(credential.secret_hash))
                      .BindBlob(3, credential.sealed)
                      .BindBlob(4, credential.previous_hash)
                      .Bind(5, credential.previous_valid_until)
                      .Bind(6, now)
                      .Bind(7, secret_prefix)
                      .Bind(8, StoredCode(expected_status))
                      .Run();
      !done) {
    return done;
  }
  if (db_.ChangedRows() == 0) return Fail(ErrorCode::kConflict, {}, "token changed meanwhile");
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

Status SqliteStore::DiscardSealedSecrets() {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  auto stmt =
      db_.Prepare("UPDATE api_tokens SET sealed_secret = NULL WHERE sealed_secret IS NOT NULL");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)->Run();
}

Result<std::vector<std::pair<std::string, TimeMs>>> SqliteStore::RecordLastUsed(
    const std::vector<std::pair<std::string, TimeMs>>& uses) {
  if (uses.empty()) return {};
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  auto stmt = db_.Prepare(
      "UPDATE api_tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?2) WHERE id = ?1 "
      "RETURNING rowid, organization_id, last_used_at");
  if (!stmt) return std::unexpected(stmt.error());
  // Last uses change no updated_at, so the search index hears of them from here.
  std::vector<LastUse> noted;
  noted.reserve(uses.size());
  for (const auto& [id, at] : uses) {
    (*stmt)->Bind(1, id).Bind(2, at);
    for (;;) {
      auto row = (*stmt)->Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      noted.push_back({(*stmt)->Text(1), (*stmt)->Int(0), (*stmt)->Int(2)});
    }
    (*stmt)->Reset();
  }
  if (auto committed = transaction.Commit(); !committed) return std::unexpected(committed.error());
  name_index_.NoteLastUsed(noted);
  return {};  // one writer: nothing is ever left
}

Status SqliteStore::ForEachTokenChangedSince(
    TimeMs since, const std::function<void(const ApiToken&, const TokenCredential&)>& visit) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  // A full load reads the table in its own order (+ keeps the planner off the updated_at
  // index, which would visit the rows in random order); a sync reads the recent few by index.
  auto stmt = db.Prepare(
      since > 0 ? std::string("SELECT ") + kTokenColumns + " WHERE t.updated_at >= ?1"
                : std::string("SELECT ") + kTokenColumns + " WHERE +t.status <> " + kSqlRevoked);
  if (!stmt) return std::unexpected(stmt.error());
  if (since > 0) (*stmt)->Bind(1, since);
  return VisitTokenRows(**stmt, visit);
}

Status SqliteStore::ForEachLiveToken(
    const std::function<void(const ApiToken&, const TokenCredential&)>& visit) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  // ReadToken's columns, with constants in place of what the cache does not keep.
  // Never destroyed, like the statements above: a store thread may use it while a process exits.
  static const std::string& kSql = *new std::string(
      "SELECT t.id, t.organization_id, COALESCE(t.project_id, ''), t.project_name, t.scope, "
      "t.name, '', t.status, 0, 0, t.last_used_at, t.expires_at, '', t.secret_hash, NULL, "
      "t.previous_hash, t.previous_valid_until, t.rate_limit_per_minute, "
      "COALESCE(t.permissions, ''), COALESCE(o.name, '') FROM api_tokens t "
      "LEFT JOIN organizations o ON o.id = t.organization_id WHERE +t.status <> " +
      kSqlRevoked);
  auto stmt = (*reader)->Prepare(kSql);
  if (!stmt) return std::unexpected(stmt.error());
  auto visited = VisitTokenRows(**stmt, visit);
  (*stmt)->Reset();
  (*reader)->ReleaseCache();  // every token row: tens of megabytes at a million tokens
  return visited;
}

Result<std::int64_t> SqliteStore::CountLiveTokens() {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  auto stmt = (*reader)->Prepare(
      std::string("SELECT COALESCE(SUM(tokens), 0) FROM api_token_counts WHERE status <> ") +
      kSqlRevoked);
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Step();
  if (!row) return std::unexpected(row.error());
  return *row ? (*stmt)->Int(0) : 0;
}

Result<TokenChangeResult> SqliteStore::ChangeToken(const std::string& organization_id,
                                                   const std::string& token_id,
                                                   const TokenChange& change, TimeMs now,
                                                   const TokenChangeCondition& condition,
                                                   const AuditOfChange& audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  auto current = FindTokenIn(db_, organization_id, token_id);
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
    static const std::string& kOtherUsable = *new std::string(  // never destroyed, as above
        "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE organization_id = ?1 AND scope = " +
        kSqlOrganizationScope + " AND status = " + kSqlActive +
        " AND id <> ?2 AND (expires_at IS NULL OR expires_at > ?3))");
    auto others = db_.Prepare(kOtherUsable);
    if (!others) return std::unexpected(others.error());
    auto row = (*others)
                   ->Bind(1, organization_id)
                   .Bind(2, token_id)
                   .Bind(3, *condition.other_organization_token_usable_at)
                   .Step();
    if (!row) return std::unexpected(row.error());
    if ((*others)->Int(0) == 0) {
      result.outcome = TokenChangeResult::Outcome::kNoOtherUsableOrganizationToken;
      return result;
    }
  }

  const ApiToken before = token;
  change.ApplyTo(token);
  token.updated_at = now;
  auto stmt = db_.Prepare(
      "UPDATE api_tokens SET name = ?3, description = ?4, status = ?5, expires_at = ?6, "
      "updated_at = ?7, rate_limit_per_minute = ?8, permissions = ?9 "
      "WHERE id = ?1 AND organization_id = ?2");
  if (!stmt) return std::unexpected(stmt.error());
  auto updated = (*stmt)
                     ->Bind(1, token_id)
                     .Bind(2, organization_id)
                     .Bind(3, token.name)
                     .Bind(4, token.description)
                     .Bind(5, StoredCode(token.status))
                     .Bind(6, token.expires_at)
                     .Bind(7, now)
                     .Bind(8, token.rate_limit_per_minute)
                     .BindOrNull(9, PermissionsToJson(token.permissions))
                     .StepUnlessConstraint();
  if (!updated) return std::unexpected(updated.error());
  if (!*updated) return Fail(ErrorCode::kTokenNameExists);
  if (audit) {
    if (auto entry = audit(before, token)) {
      if (auto done = AppendAuditLocked(*entry); !done) return std::unexpected(done.error());
    }
  }
  if (auto committed = transaction.Commit(); !committed) {
    return std::unexpected(committed.error());
  }
  return result;
}

}  // namespace gatehouse
