#include "store/sqlite/sqlite_store.h"

#include <stdexcept>

#include "core/text.h"
#include "store/sqlite/migrations.h"

namespace gatehouse {

using sqlite::Statement;
using sqlite::Transaction;

namespace {

constexpr std::int64_t kRevoked = static_cast<std::int64_t>(TokenStatus::kRevoked);

constexpr const char* kTokenColumns =
    "t.id, t.organization_id, COALESCE(t.project_id, ''), COALESCE(p.name, ''), t.scope, "
    "t.name, t.description, t.status, t.created_at, t.updated_at, t.last_used_at, "
    "t.expires_at, t.secret_prefix, t.secret_hash, t.sealed_secret, t.previous_hash, "
    "t.previous_valid_until, COALESCE(o.name, '') FROM api_tokens t "
    "LEFT JOIN projects p ON p.id = t.project_id "
    "LEFT JOIN organizations o ON o.id = t.organization_id";

ApiToken ReadToken(const Statement& row) {
  ApiToken token;
  token.id = row.Text(0);
  token.organization_id = row.Text(1);
  token.project_id = row.Text(2);
  token.project_name = row.Text(3);
  token.scope = static_cast<TokenScope>(row.Int(4));
  token.name = row.Text(5);
  token.description = row.Text(6);
  token.status = static_cast<TokenStatus>(row.Int(7));
  token.created_at = row.Int(8);
  token.updated_at = row.Int(9);
  token.last_used_at = row.OptionalInt(10);
  token.expires_at = row.OptionalInt(11);
  token.secret_prefix = row.Text(12);
  token.organization_name = row.Text(17);
  return token;
}

TokenCredential ReadCredential(const Statement& row) {
  return TokenCredential{row.Blob(13), row.OptionalBlob(14), row.OptionalBlob(15),
                         row.OptionalInt(16)};
}

constexpr const char* kProjectColumns =
    "p.id, p.organization_id, o.name, p.name, p.description, p.admin_email, p.active, "
    "p.created_at, p.updated_at FROM projects p JOIN organizations o ON o.id = p.organization_id";

Project ReadProject(const Statement& row) {
  return Project{row.Text(0), row.Text(1),     row.Text(2), row.Text(3), row.Text(4),
                 row.Text(5), row.Int(6) != 0, row.Int(7),  row.Int(8)};
}

Organization ReadOrganization(const Statement& row) {
  return Organization{row.Text(0), row.Text(1), row.Text(2), row.Int(3)};
}

// Escapes a user string for a LIKE pattern with ESCAPE '\'.
std::string LikeContains(std::string_view text) {
  std::string pattern = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
    pattern.push_back(c);
  }
  pattern.push_back('%');
  return pattern;
}

// A trigram FTS5 phrase query that matches names containing `text`.
std::string TrigramPhrase(std::string_view text) {
  std::string phrase = "\"";
  for (char c : text) {
    if (c == '"') phrase.push_back('"');
    phrase.push_back(c);
  }
  phrase.push_back('"');
  return phrase;
}

const char* OrderColumn(TokenOrderKey key) {
  switch (key) {
    case TokenOrderKey::kName:
      return "t.name COLLATE NOCASE";
    case TokenOrderKey::kDescription:
      return "t.description COLLATE NOCASE";
    case TokenOrderKey::kStatus:
      return "t.status";
    case TokenOrderKey::kProjectName:
      return "p.name COLLATE NOCASE";
    case TokenOrderKey::kTimestamp:
      return "t.created_at";
    case TokenOrderKey::kLastUsedAt:
      return "t.last_used_at";
  }
  return "t.name";
}

template <typename T>
Status Check(const Result<T>& result) {
  if (!result) return std::unexpected(result.error());
  return {};
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path) : path_(path) {
  db_.Open(path);
  if (auto migrated = sqlite::Migrate(db_); !migrated) {
    throw std::runtime_error("cannot migrate " + path + ": " + migrated.error().internal);
  }
}

Status SqliteStore::Backup(const std::string& destination) {
  std::lock_guard lock(mutex_);
  sqlite3* target = nullptr;
  if (sqlite3_open(destination.c_str(), &target) != SQLITE_OK) {
    Error error = sqlite::SqliteError(target, "open backup target");
    sqlite3_close(target);
    return std::unexpected(std::move(error));
  }
  sqlite3_backup* backup = sqlite3_backup_init(target, "main", db_.handle(), "main");
  if (!backup) {
    Error error = sqlite::SqliteError(target, "backup init");
    sqlite3_close(target);
    return std::unexpected(std::move(error));
  }
  const int rc = sqlite3_backup_step(backup, -1);
  sqlite3_backup_finish(backup);
  Status result;
  if (rc != SQLITE_DONE) result = std::unexpected(sqlite::SqliteError(target, "backup step"));
  sqlite3_close(target);
  return result;
}

Status SqliteStore::Ping() {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare("SELECT 1");
  if (!stmt) return std::unexpected(stmt.error());
  return Check((*stmt)->Step());
}

Result<std::optional<std::string>> SqliteStore::GetSetting(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare("SELECT value FROM settings WHERE key = ?");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, key).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>((*stmt)->Text(0));
}

Status SqliteStore::PutSetting(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(
      "INSERT INTO settings(key, value) VALUES (?, ?) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)->Bind(1, key).Bind(2, value).Run();
}

Status SqliteStore::CreateOrganization(const Organization& organization, const ApiToken& token,
                                       const TokenCredential& credential) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "INSERT INTO organizations(id, name, admin_email, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  auto inserted = (*stmt)
                      ->Bind(1, organization.id)
                      .Bind(2, organization.name)
                      .Bind(3, organization.admin_email)
                      .Bind(4, organization.created_at)
                      .Bind(5, organization.created_at)
                      .StepUnlessConstraint();
  if (!inserted) return std::unexpected(inserted.error());
  if (!*inserted) return Fail(ErrorCode::kConflict, {}, "organization name exists");
  if (auto done = InsertTokenLocked(token, credential); !done) return done;
  return transaction.Commit();
}

Result<std::optional<Organization>> SqliteStore::FindOrganizationWhere(const std::string& where,
                                                                       const std::string& value) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(
      "SELECT id, name, admin_email, created_at FROM organizations WHERE deleted_at IS NULL AND " +
      where);
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, value).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<Organization>();
  return std::optional<Organization>(ReadOrganization(**stmt));
}

Result<std::optional<Organization>> SqliteStore::FindOrganization(const std::string& id) {
  return FindOrganizationWhere("id = ?", id);
}

Result<std::optional<Organization>> SqliteStore::FindOrganizationByName(const std::string& name) {
  return FindOrganizationWhere("name = ?", name);
}

Result<OrganizationPage> SqliteStore::ListOrganizations(const OrganizationQuery& query) {
  std::lock_guard lock(mutex_);
  const std::string where =
      " FROM organizations WHERE deleted_at IS NULL AND (?1 = '' OR name LIKE ?2 ESCAPE '\\')";
  OrganizationPage page;
  auto count = db_.Prepare("SELECT COUNT(*)" + where);
  if (!count) return std::unexpected(count.error());
  auto counted =
      (*count)->Bind(1, query.name_contains).Bind(2, LikeContains(query.name_contains)).Step();
  if (!counted) return std::unexpected(counted.error());
  page.count = (*count)->Int(0);

  auto stmt = db_.Prepare("SELECT id, name, admin_email, created_at" + where +
                          " ORDER BY name COLLATE NOCASE " + (query.descending ? "DESC" : "ASC") +
                          ", id LIMIT ?3 OFFSET ?4");
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)
      ->Bind(1, query.name_contains)
      .Bind(2, LikeContains(query.name_contains))
      .Bind(3, query.limit > 0 ? query.limit : -1)
      .Bind(4, query.offset);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    page.organizations.push_back(ReadOrganization(**stmt));
  }
  return page;
}

Status SqliteStore::DeleteOrganization(const std::string& id, TimeMs now) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  for (const char* sql : {"UPDATE organizations SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1",
                          "UPDATE projects SET deleted_at = ?2, updated_at = ?2 "
                          "WHERE organization_id = ?1 AND deleted_at IS NULL",
                          "UPDATE api_tokens SET status = 2, updated_at = ?2 "
                          "WHERE organization_id = ?1 AND status <> 2"}) {
    auto stmt = db_.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    if (auto done = (*stmt)->Bind(1, id).Bind(2, now).Run(); !done) return done;
  }
  return transaction.Commit();
}

Status SqliteStore::CreateProject(const Project& project, const ApiToken& token,
                                  const TokenCredential& credential) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "INSERT INTO projects(id, organization_id, name, description, admin_email, active, "
      "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  auto inserted = (*stmt)
                      ->Bind(1, project.id)
                      .Bind(2, project.organization_id)
                      .Bind(3, project.name)
                      .Bind(4, project.description)
                      .Bind(5, project.admin_email)
                      .Bind(6, std::int64_t{project.active})
                      .Bind(7, project.created_at)
                      .Bind(8, project.updated_at)
                      .StepUnlessConstraint();
  if (!inserted) return std::unexpected(inserted.error());
  if (!*inserted) return Fail(ErrorCode::kProjectNameExists);
  if (auto done = InsertTokenLocked(token, credential); !done) return done;
  return transaction.Commit();
}

Result<std::optional<Project>> SqliteStore::FindProjectWhere(const std::string& where,
                                                             const std::string& organization_id,
                                                             const std::string& value) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(std::string("SELECT ") + kProjectColumns +
                          " WHERE p.deleted_at IS NULL AND p.organization_id = ?1 AND " + where);
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, organization_id).Bind(2, value).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<Project>();
  return std::optional<Project>(ReadProject(**stmt));
}

Result<std::optional<Project>> SqliteStore::FindProject(const std::string& organization_id,
                                                        const std::string& project_id) {
  return FindProjectWhere("p.id = ?2", organization_id, project_id);
}

Result<std::optional<Project>> SqliteStore::FindProjectByName(const std::string& organization_id,
                                                              const std::string& name) {
  return FindProjectWhere("p.name = ?2", organization_id, name);
}

Result<std::vector<Project>> SqliteStore::ListProjects(const std::string& organization_id,
                                                       bool include_hidden) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(std::string("SELECT ") + kProjectColumns +
                          " WHERE p.deleted_at IS NULL AND p.organization_id = ?1 "
                          "AND (?2 OR p.active) ORDER BY p.name, p.id");
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, organization_id).Bind(2, std::int64_t{include_hidden});
  std::vector<Project> projects;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    projects.push_back(ReadProject(**stmt));
  }
  return projects;
}

Status SqliteStore::UpdateProject(const Project& project) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(
      "UPDATE projects SET name = ?3, description = ?4, active = ?5, updated_at = ?6 "
      "WHERE id = ?1 AND organization_id = ?2 AND deleted_at IS NULL");
  if (!stmt) return std::unexpected(stmt.error());
  auto updated = (*stmt)
                     ->Bind(1, project.id)
                     .Bind(2, project.organization_id)
                     .Bind(3, project.name)
                     .Bind(4, project.description)
                     .Bind(5, std::int64_t{project.active})
                     .Bind(6, project.updated_at)
                     .StepUnlessConstraint();
  if (!updated) return std::unexpected(updated.error());
  if (!*updated) return Fail(ErrorCode::kProjectNameExists);
  // Tokens show their project's name: touching them lets caches on other nodes see it.
  auto touch = db_.Prepare("UPDATE api_tokens SET updated_at = ?2 WHERE project_id = ?1");
  if (!touch) return std::unexpected(touch.error());
  return (*touch)->Bind(1, project.id).Bind(2, project.updated_at).Run();
}

Status SqliteStore::DeleteProject(const std::string& organization_id, const std::string& project_id,
                                  TimeMs now) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  for (const char* sql : {"UPDATE projects SET deleted_at = ?3, updated_at = ?3 "
                          "WHERE id = ?2 AND organization_id = ?1 AND deleted_at IS NULL",
                          "UPDATE api_tokens SET status = 2, updated_at = ?3 "
                          "WHERE project_id = ?2 AND organization_id = ?1 AND status <> 2"}) {
    auto stmt = db_.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    if (auto done = (*stmt)->Bind(1, organization_id).Bind(2, project_id).Bind(3, now).Run();
        !done) {
      return done;
    }
  }
  return transaction.Commit();
}

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
                      .Bind(4, static_cast<std::int64_t>(token.scope))
                      .Bind(5, token.name)
                      .Bind(6, token.description)
                      .Bind(7, static_cast<std::int64_t>(token.status))
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

Status SqliteStore::UpdateToken(const ApiToken& token) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  if (token.scope == TokenScope::kOrganization && token.status != TokenStatus::kActive) {
    // Only a change away from Active can lock the organization out.
    auto guard = db_.Prepare(
        "SELECT (SELECT status FROM api_tokens WHERE id = ?2), "
        "(SELECT COUNT(*) FROM api_tokens WHERE organization_id = ?1 AND scope = 0 "
        "AND status = 0 AND id <> ?2 AND (expires_at IS NULL OR expires_at > ?3))");
    if (!guard) return std::unexpected(guard.error());
    auto row =
        (*guard)->Bind(1, token.organization_id).Bind(2, token.id).Bind(3, token.updated_at).Step();
    if (!row) return std::unexpected(row.error());
    if ((*guard)->Int(0) == 0 && (*guard)->Int(1) == 0) {
      return Fail(ErrorCode::kLastOrganizationToken);
    }
  }
  auto stmt = db_.Prepare(
      "UPDATE api_tokens SET name = ?3, description = ?4, status = ?5, expires_at = ?6, "
      "updated_at = ?7 WHERE id = ?1 AND organization_id = ?2");
  if (!stmt) return std::unexpected(stmt.error());
  auto updated = (*stmt)
                     ->Bind(1, token.id)
                     .Bind(2, token.organization_id)
                     .Bind(3, token.name)
                     .Bind(4, token.description)
                     .Bind(5, static_cast<std::int64_t>(token.status))
                     .Bind(6, token.expires_at)
                     .Bind(7, token.updated_at)
                     .StepUnlessConstraint();
  if (!updated) return std::unexpected(updated.error());
  if (!*updated) return Fail(ErrorCode::kTokenNameExists);
  return transaction.Commit();
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
      where += (i ? ", " : "") + std::to_string(static_cast<int>(query.statuses[i]));
    }
    where += ")";
  }
  auto bind = [&](Statement& stmt) {
    stmt.Bind(1, query.organization_id);
    if (query.scope) stmt.Bind(2, static_cast<std::int64_t>(*query.scope));
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

Status SqliteStore::AppendAudit(const AuditEntry& entry) {
  std::lock_guard lock(mutex_);
  auto stmt = db_.Prepare(
      "INSERT INTO audit_log(at, organization_id, actor_token_id, action, target_id) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)
      ->Bind(1, entry.at)
      .Bind(2, entry.organization_id)
      .Bind(3, entry.actor_token_id)
      .Bind(4, entry.action)
      .Bind(5, entry.target_id)
      .Run();
}

Result<AuditPage> SqliteStore::ListAudit(const std::string& organization_id, std::int64_t offset,
                                         std::int64_t limit) {
  std::lock_guard lock(mutex_);
  AuditPage page;
  auto count = db_.Prepare("SELECT COUNT(*) FROM audit_log WHERE organization_id = ?1");
  if (!count) return std::unexpected(count.error());
  auto counted = (*count)->Bind(1, organization_id).Step();
  if (!counted) return std::unexpected(counted.error());
  page.count = (*count)->Int(0);
  auto stmt = db_.Prepare(
      "SELECT id, organization_id, actor_token_id, action, target_id, at FROM audit_log "
      "WHERE organization_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2 OFFSET ?3");
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, organization_id).Bind(2, limit > 0 ? limit : -1).Bind(3, offset);
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    const auto& r = **stmt;
    page.entries.push_back(
        AuditEntry{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5)});
  }
  return page;
}

}  // namespace gatehouse
