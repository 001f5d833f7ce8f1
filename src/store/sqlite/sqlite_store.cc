#include "store/sqlite/sqlite_store.h"

#include <stdexcept>

#include "store/sqlite/migrations.h"
#include "store/sqlite/rows.h"

namespace gatehouse {

using sqlite::Statement;
using sqlite::Transaction;
using namespace sqlite;  // row readers and SQL helpers

namespace {

// How long a write may wait for the writer connection and for SQLite's write lock.
constexpr std::chrono::milliseconds kWriteBudget{2000};
constexpr int kReaders = 4;

}  // namespace

SqliteStore::SqliteStore(const std::string& path) : path_(path), readers_(path, kReaders) {
  db_.Open(path);
  if (auto migrated = sqlite::Migrate(db_); !migrated) {
    throw std::runtime_error("cannot migrate " + path + ": " + migrated.error().internal);
  }
  sqlite3_busy_timeout(db_.handle(), static_cast<int>(kWriteBudget.count()));
  // A WAL that grew under a burst is truncated back to this when it restarts.
  if (auto limited = db_.Execute("PRAGMA journal_size_limit=67108864"); !limited) {
    throw std::runtime_error("cannot configure " + path + ": " + limited.error().internal);
  }
  checkpointer_ = std::make_unique<sqlite::Checkpointer>(path, db_.handle());
  token_writer_ = std::thread([this] { WriteQueuedTokens(); });
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard queue(token_queue_mutex_);
    closing_ = true;
  }
  token_queued_.notify_one();
  token_writer_.join();
}

Result<std::unique_lock<std::timed_mutex>> SqliteStore::LockWriter() {
  std::unique_lock lock(write_mutex_, std::defer_lock);
  if (!lock.try_lock_for(kWriteBudget)) {
    return Fail(ErrorCode::kStoreBusy, {}, "the writer connection stayed busy past the budget");
  }
  return lock;
}

Status SqliteStore::Backup(const std::string& destination) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  sqlite3* target = nullptr;
  if (sqlite3_open(destination.c_str(), &target) != SQLITE_OK) {
    Error error = sqlite::SqliteError(target, "open backup target");
    sqlite3_close(target);
    return std::unexpected(std::move(error));
  }
  sqlite3_backup* backup = sqlite3_backup_init(target, "main", db.handle(), "main");
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
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare("SELECT 1");
  if (!stmt) return std::unexpected(stmt.error());
  return Check((*stmt)->Step());
}

Result<std::optional<std::string>> SqliteStore::GetSetting(const std::string& key) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare("SELECT value FROM settings WHERE key = ?");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, key).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>((*stmt)->Text(0));
}

Status SqliteStore::PutSetting(const std::string& key, const std::string& value) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  auto stmt = db_.Prepare(
      "INSERT INTO settings(key, value) VALUES (?, ?) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)->Bind(1, key).Bind(2, value).Run();
}

Result<std::string> SqliteStore::PutSettingOnce(const std::string& key, const std::string& value) {
  {
    auto lock = LockWriter();
    if (!lock) return std::unexpected(lock.error());
    auto stmt =
        db_.Prepare("INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT DO NOTHING");
    if (!stmt) return std::unexpected(stmt.error());
    if (auto done = (*stmt)->Bind(1, key).Bind(2, value).Run(); !done) {
      return std::unexpected(done.error());
    }
  }
  auto stored = GetSetting(key);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kInternal, {}, "setting " + key + " vanished");
  return std::move(**stored);
}

Status SqliteStore::CreateOrganization(const Organization& organization, const ApiToken& token,
                                       const TokenCredential& credential, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
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
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

Result<std::optional<Organization>> SqliteStore::FindOrganizationWhere(const std::string& where,
                                                                       const std::string& value) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(
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
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  const std::string where =
      " FROM organizations WHERE deleted_at IS NULL AND (?1 = '' OR name LIKE ?2 ESCAPE '\\')";
  OrganizationPage page;
  auto count = db.Prepare("SELECT COUNT(*)" + where);
  if (!count) return std::unexpected(count.error());
  auto counted =
      (*count)->Bind(1, query.name_contains).Bind(2, LikeContains(query.name_contains)).Step();
  if (!counted) return std::unexpected(counted.error());
  page.count = (*count)->Int(0);

  auto stmt = db.Prepare("SELECT id, name, admin_email, created_at" + where +
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

Status SqliteStore::DeleteOrganization(const std::string& id, TimeMs now, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  static const std::string kStatements[] = {
      "UPDATE organizations SET deleted_at = ?2, updated_at = ?2 WHERE id = ?1",
      "UPDATE projects SET deleted_at = ?2, updated_at = ?2 "
      "WHERE organization_id = ?1 AND deleted_at IS NULL",
      "UPDATE api_tokens SET status = " + kSqlRevoked +
          ", updated_at = ?2 WHERE organization_id = ?1 AND status <> " + kSqlRevoked};
  for (const std::string& sql : kStatements) {
    auto stmt = db_.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    if (auto done = (*stmt)->Bind(1, id).Bind(2, now).Run(); !done) return done;
  }
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

Status SqliteStore::CreateProject(const Project& project, const ApiToken& token,
                                  const TokenCredential& credential) {
  return CreateProjectWithLimit(project, token, credential, nullptr, {});
}

Status SqliteStore::InsertProjectLocked(const Project& project, const ApiToken& token,
                                        const TokenCredential& credential) {
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
  return InsertTokenLocked(token, credential);
}

Result<std::optional<Project>> SqliteStore::FindProjectWhere(const std::string& where,
                                                             const std::string& organization_id,
                                                             const std::string& value) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(std::string("SELECT ") + kProjectColumns +
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

Result<bool> SqliteStore::KnowsProject(const std::string& organization_id,
                                       const std::string& project_id) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare("SELECT 1 FROM projects WHERE organization_id = ?1 AND id = ?2");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)->Bind(1, organization_id).Bind(2, project_id).Step();
}

Result<std::vector<Project>> SqliteStore::ListProjects(const std::string& organization_id,
                                                       bool include_hidden) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(std::string("SELECT ") + kProjectColumns +
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

Status SqliteStore::UpdateProject(const Project& read, const Project& project,
                                  const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "UPDATE projects SET name = ?3, description = ?4, active = ?5, updated_at = ?6 "
      "WHERE id = ?1 AND organization_id = ?2 AND deleted_at IS NULL "
      "AND name = ?7 AND description = ?8 AND active = ?9");
  if (!stmt) return std::unexpected(stmt.error());
  auto updated = (*stmt)
                     ->Bind(1, project.id)
                     .Bind(2, project.organization_id)
                     .Bind(3, project.name)
                     .Bind(4, project.description)
                     .Bind(5, std::int64_t{project.active})
                     .Bind(6, project.updated_at)
                     .Bind(7, read.name)
                     .Bind(8, read.description)
                     .Bind(9, std::int64_t{read.active})
                     .StepUnlessConstraint();
  if (!updated) return std::unexpected(updated.error());
  if (!*updated) return Fail(ErrorCode::kProjectNameExists);
  if (db_.ChangedRows() == 0) {
    // Deleted (404) or changed since it was read (a conflict the caller reads again).
    auto live = db_.Prepare(
        "SELECT 1 FROM projects WHERE id = ?1 AND organization_id = ?2 AND deleted_at IS NULL");
    if (!live) return std::unexpected(live.error());
    auto found = (*live)->Bind(1, project.id).Bind(2, project.organization_id).Step();
    if (!found) return std::unexpected(found.error());
    if (!*found) return Fail(ErrorCode::kProjectNotFound);
    return Fail(ErrorCode::kConflict, {}, "project changed meanwhile");
  }
  // Tokens show their project's name: touching them lets caches on other nodes see it.
  auto touch =
      db_.Prepare("UPDATE api_tokens SET updated_at = ?2, project_name = ?3 WHERE project_id = ?1");
  if (!touch) return std::unexpected(touch.error());
  if (auto done =
          (*touch)->Bind(1, project.id).Bind(2, project.updated_at).Bind(3, project.name).Run();
      !done) {
    return done;
  }
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

Status SqliteStore::DeleteProject(const std::string& organization_id, const std::string& project_id,
                                  TimeMs now, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  static const std::string kStatements[] = {
      "UPDATE projects SET deleted_at = ?3, updated_at = ?3 "
      "WHERE id = ?2 AND organization_id = ?1 AND deleted_at IS NULL",
      "UPDATE api_tokens SET status = " + kSqlRevoked +
          ", updated_at = ?3 WHERE project_id = ?2 AND organization_id = ?1 AND status <> " +
          kSqlRevoked};
  for (const std::string& sql : kStatements) {
    auto stmt = db_.Prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    if (auto done = (*stmt)->Bind(1, organization_id).Bind(2, project_id).Bind(3, now).Run();
        !done) {
      return done;
    }
  }
  // A deleted project's limit stops governing anything.
  auto cancel = db_.Prepare(
      "UPDATE usage_limits SET status = 4, updated_at = ?3 "
      "WHERE organization_id = ?1 AND project_id = ?2 AND status IN (1, 3)");
  if (!cancel) return std::unexpected(cancel.error());
  if (auto done = (*cancel)->Bind(1, organization_id).Bind(2, project_id).Bind(3, now).Run();
      !done) {
    return done;
  }
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

}  // namespace gatehouse
