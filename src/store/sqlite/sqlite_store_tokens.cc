#include "core/text.h"
#include "store/sqlite/rows.h"
#include "store/sqlite/sqlite_store.h"

// The API-token part of SqliteStore.
namespace gatehouse {

using sqlite::Statement;
using sqlite::Transaction;
using namespace sqlite;  // row readers and SQL helpers

Status SqliteStore::InsertToken(const ApiToken& token, const TokenCredential& credential) {
  std::lock_guard lock(mutex_);
  return InsertTokenLocked(token, credential);
}

Status SqliteStore::InsertTokenLocked(const ApiToken& token, const TokenCredential& credential) {
  auto stmt = db_.Prepare(
      "INSERT INTO api_tokens(id, organization_id, project_id, scope, name, description, status, "
      "secret_hash, sealed_secret, secret_prefix, created_at, updated_at, expires_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
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
                      .StepUnlessConstraint();
  if (!inserted) return std::unexpected(inserted.error());
  if (!*inserted) return Fail(ErrorCode::kTokenNameExists);
  return {};
}

Result<std::optional<ApiToken>> SqliteStore::FindToken(const std::string& organization_id,
                                                       const std::string& token_id) {
  std::lock_guard lock(mutex_);
  return FindTokenLocked(organization_id, token_id);
}

Result<std::optional<ApiToken>> SqliteStore::FindTokenLocked(const std::string& organization_id,
                                                             const std::string& token_id) {
  auto stmt = db_.Prepare(std::string("SELECT ") + kTokenColumns +
                          " WHERE t.id = ?1 AND t.organization_id = ?2");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, token_id).Bind(2, organization_id).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<ApiToken>();
  return std::optional<ApiToken>(ReadToken(**stmt));
}

Result<std::optional<TokenCredential>> SqliteStore::FindCredential(const std::string& token_id) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(std::string("SELECT ") + kTokenColumns + " WHERE t.id = ?1");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, token_id).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<TokenCredential>();
  return std::optional<TokenCredential>(ReadCredential(**stmt));
}

Status SqliteStore::UpdateCredential(const std::string& token_id, const TokenCredential& credential,
                                     const std::string& secret_prefix, TimeMs now) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(
      "UPDATE api_tokens SET secret_hash = ?2, sealed_secret = ?3, previous_hash = ?4, "
      "previous_valid_until = ?5, updated_at = ?6, secret_prefix = ?7 WHERE id = ?1");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)
      ->Bind(1, token_id)
      .BindBlob(2, std::string_view(credential.secret_hash))
      .BindBlob(3, credential.sealed)
      .BindBlob(4, credential.previous_hash)
      .Bind(5, credential.previous_valid_until)
      .Bind(6, now)
      .Bind(7, secret_prefix)
      .Run();
}

Result<TokenPage> SqliteStore::SearchTokens(const TokenQuery& query) {
  std::lock_guard lock(mutex_);
  std::string where = " WHERE t.organization_id = ?1";
  if (query.scope) where += " AND t.scope = ?2";
  if (!query.project_id.empty()) where += " AND t.project_id = ?3";
  if (!query.name_contains.empty()) {
    where += " AND t.name LIKE ?4 ESCAPE '\\'";
    // The trigram index answers substrings of three or more characters without a scan.
    if (CodePointCount(query.name_contains) >= 3) {
      where +=
          " AND t.rowid IN (SELECT rowid FROM api_tokens_name_trigram "
          "WHERE api_tokens_name_trigram MATCH ?5)";
    }
  }
  if (!query.project_name_contains.empty()) where += " AND p.name LIKE ?6 ESCAPE '\\'";
  if (!query.statuses.empty()) {
    where += " AND t.status IN (";
    for (std::size_t i = 0; i < query.statuses.size(); ++i) {
      where += (i ? ", " : "") + std::to_string(StoredCode(query.statuses[i]));
    }
    where += ")";
  }
  auto bind = [&](Statement& stmt) {
    stmt.Bind(1, query.organization_id);
    if (query.scope) stmt.Bind(2, StoredCode(*query.scope));
    if (!query.project_id.empty()) stmt.Bind(3, query.project_id);
    if (!query.name_contains.empty()) {
      stmt.Bind(4, LikeContains(query.name_contains));
      if (CodePointCount(query.name_contains) >= 3) {
        stmt.Bind(5, TrigramPhrase(query.name_contains));
      }
    }
    if (!query.project_name_contains.empty()) {
      stmt.Bind(6, LikeContains(query.project_name_contains));
    }
  };

  TokenPage page;
  auto count = db_.Prepare(
      "SELECT COUNT(*) FROM api_tokens t LEFT JOIN projects p ON p.id = t.project_id" + where);
  if (!count) return std::unexpected(count.error());
  bind(**count);
  auto counted = (*count)->Step();
  if (!counted) return std::unexpected(counted.error());
  page.count = (*count)->Int(0);

  const char* direction = query.descending ? " DESC" : " ASC";
  auto stmt = db_.Prepare(std::string("SELECT ") + kTokenColumns + where + " ORDER BY " +
                          OrderColumn(query.order_key) + direction + ", t.id" + direction +
                          " LIMIT ?7 OFFSET ?8");
  if (!stmt) return std::unexpected(stmt.error());
  bind(**stmt);
  (*stmt)->Bind(7, query.limit > 0 ? query.limit : -1).Bind(8, query.offset);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    page.tokens.push_back(ReadToken(**stmt));
  }
  return page;
}

Status SqliteStore::DiscardSealedSecrets() {
  std::lock_guard lock(mutex_);
  auto stmt =
      db_.Prepare("UPDATE api_tokens SET sealed_secret = NULL WHERE sealed_secret IS NOT NULL");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)->Run();
}

Status SqliteStore::RecordLastUsed(const std::vector<std::pair<std::string, TimeMs>>& uses) {
  if (uses.empty()) return {};
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  for (const auto& [id, at] : uses) {
    auto stmt = db_.Prepare(
        "UPDATE api_tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?2) WHERE id = ?1");
    if (!stmt) return std::unexpected(stmt.error());
    if (auto done = (*stmt)->Bind(1, id).Bind(2, at).Run(); !done) return done;
  }
  return transaction.Commit();
}

Status SqliteStore::ForEachTokenChangedSince(
    TimeMs since, const std::function<void(const ApiToken&, const TokenCredential&)>& visit) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(std::string("SELECT ") + kTokenColumns +
                          " WHERE t.updated_at >= ?1 AND (?1 > 0 OR t.status <> ?2)");
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, since).Bind(2, kRevoked);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    visit(ReadToken(**stmt), ReadCredential(**stmt));
  }
  return {};
}

Result<TokenChangeResult> SqliteStore::ChangeToken(const std::string& organization_id,
                                                   const std::string& token_id,
                                                   const TokenChange& change, TimeMs now,
                                                   const TokenChangeCondition& condition) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.begun()) return std::unexpected(transaction.begun().error());
  auto current = FindTokenLocked(organization_id, token_id);
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
    static const std::string kOtherUsable =
        "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE organization_id = ?1 AND scope = " +
        kSqlOrganizationScope + " AND status = " + kSqlActive +
        " AND id <> ?2 AND (expires_at IS NULL OR expires_at > ?3))";
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

  if (change.name) token.name = *change.name;
  if (change.description) token.description = *change.description;
  if (change.status) token.status = *change.status;
  if (change.expires_at) token.expires_at = *change.expires_at;
  token.updated_at = now;
  auto stmt = db_.Prepare(
      "UPDATE api_tokens SET name = ?3, description = ?4, status = ?5, expires_at = ?6, "
      "updated_at = ?7 WHERE id = ?1 AND organization_id = ?2");
  if (!stmt) return std::unexpected(stmt.error());
  auto updated = (*stmt)
                     ->Bind(1, token_id)
                     .Bind(2, organization_id)
                     .Bind(3, token.name)
                     .Bind(4, token.description)
                     .Bind(5, StoredCode(token.status))
                     .Bind(6, token.expires_at)
                     .Bind(7, now)
                     .StepUnlessConstraint();
  if (!updated) return std::unexpected(updated.error());
  if (!*updated) return Fail(ErrorCode::kTokenNameExists);
  if (auto committed = transaction.Commit(); !committed) {
    return std::unexpected(committed.error());
  }
  return result;
}

}  // namespace gatehouse
