#include "store/postgres/pg_store.h"

#include <unistd.h>

#include <stdexcept>

#include "store/postgres/pg_change_mark.h"
#include "store/postgres/pg_migrations.h"
#include "store/postgres/pg_rows.h"

namespace gatehouse {

using pg::Params;
using pg::Transaction;
using namespace pg;  // row readers and SQL helpers

namespace {

// How long a call waits for a connection of its pool, like SQLite's write budget.
constexpr std::chrono::milliseconds kLeaseBudget{2000};
// Months of request partitions made ahead of the current one.
constexpr int kPartitionMonthsAhead = 2;

}  // namespace

PgStore::PgStore(Options options)
    : options_(std::move(options)),
      pool_(options_.url, options_.connections, kLeaseBudget),
      exports_(options_.url, options_.export_connections, kLeaseBudget),
      writer_(options_.url, 1, kLeaseBudget),
      records_(options_.url, 1, kLeaseBudget) {
  const std::string shown = RedactUrl(options_.url);
  auto connection = pool_.Acquire();
  if (!connection) {
    throw std::runtime_error("cannot open the store " + shown + ": " + connection.error().internal);
  }
  if (auto migrated = pg::Migrate(**connection); !migrated) {
    throw std::runtime_error("cannot migrate the store " + shown + ": " +
                             migrated.error().internal);
  }
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  if (auto made = pg::EnsureRequestPartitions(**connection, now, kPartitionMonthsAhead); !made) {
    throw std::runtime_error("cannot partition the store " + shown + ": " + made.error().internal);
  }
  token_writer_ = std::thread([this] { WriteQueuedTokens(); });
}

PgStore::~PgStore() {
  if (listener_.joinable()) {
    const std::uint64_t one = 1;
    (void)!::write(listen_stop_fd_, &one, sizeof one);
    listener_.join();
    ::close(listen_stop_fd_);
  }
  {
    std::lock_guard queue(token_queue_mutex_);
    closing_ = true;
  }
  token_queued_.notify_one();
  token_writer_.join();
}

Status PgStore::EnsureRequestPartitions(TimeMs now) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return pg::EnsureRequestPartitions(**c, now, kPartitionMonthsAhead);
}

Status PgStore::Ping() {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return (*c)->Run("SELECT 1");
}

Result<TimeMs> PgStore::ChangeMark(TimeMs /*node_now*/) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  // Not the clock alone: a transaction still writing may have stamped rows before it.
  auto rows = (*c)->Exec("SELECT " + std::string(kChangeMarkSql));
  if (!rows) return std::unexpected(rows.error());
  return rows->Int(0, 0);
}

Result<std::optional<std::string>> PgStore::GetSetting(const std::string& key) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec("SELECT value FROM settings WHERE key = $1", Params().Text(key));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<std::string>();
  return std::optional<std::string>(rows->Text(0, 0));
}

Status PgStore::PutSetting(const std::string& key, const std::string& value) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return (*c)->Run(
      "INSERT INTO settings(key, value) VALUES ($1, $2) "
      "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
      Params().Text(key).Text(value));
}

Result<std::string> PgStore::PutSettingOnce(const std::string& key, const std::string& value) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  // A concurrent insert makes this one wait for its commit and then do nothing; the read that
  // follows, a statement of its own, sees whichever row was committed first.
  if (auto done = (*c)->Run("INSERT INTO settings(key, value) VALUES ($1, $2) "
                            "ON CONFLICT (key) DO NOTHING",
                            Params().Text(key).Text(value));
      !done) {
    return std::unexpected(done.error());
  }
  auto rows = (*c)->Exec("SELECT value FROM settings WHERE key = $1", Params().Text(key));
  if (!rows) return std::unexpected(rows.error());
  if (rows->size() == 0) return Fail(ErrorCode::kInternal, {}, "setting " + key + " vanished");
  return rows->Text(0, 0);
}

Status PgStore::CreateOrganization(const Organization& organization, const ApiToken& token,
                                   const TokenCredential& credential, const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  auto inserted = (*c)->Run(
      "INSERT INTO organizations(id, name, admin_email, created_at, updated_at) "
      "VALUES ($1, $2, $3, $4, $4)",
      Params()
          .Text(organization.id)
          .Text(organization.name)
          .Text(organization.admin_email)
          .Int(organization.created_at));
  if (!inserted) {
    if (IsUniqueViolation((*c)->last_failure(), "organizations_live_name")) {
      return Fail(ErrorCode::kConflict, {}, "organization name exists");
    }
    return inserted;
  }
  if (auto done = InsertTokenIn(**c, token, credential); !done) return done;
  if (auto done = NotifyChange(**c); !done) return done;
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  return transaction.Commit();
}

Result<std::optional<Organization>> PgStore::FindOrganizationWhere(const char* where,
                                                                   const std::string& value) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec(
      std::string("SELECT ") + kOrganizationColumns + " WHERE deleted_at IS NULL AND " + where,
      Params().Text(value));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<Organization>();
  return std::optional<Organization>(ReadOrganization(*rows, 0));
}

Result<std::optional<Organization>> PgStore::FindOrganization(const std::string& id) {
  return FindOrganizationWhere("id = $1", id);
}

Result<std::optional<Organization>> PgStore::FindOrganizationByName(const std::string& name) {
  return FindOrganizationWhere("name = $1", name);
}

Result<OrganizationPage> PgStore::ListOrganizations(const OrganizationQuery& query) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  const std::string where =
      " FROM organizations WHERE deleted_at IS NULL AND ($1 = '' OR name ILIKE $2)";
  OrganizationPage page;
  auto count =
      (*c)->Exec("SELECT COUNT(*)" + where,
                 Params().Text(query.name_contains).Text(LikeContains(query.name_contains)));
  if (!count) return std::unexpected(count.error());
  page.count = count->Int(0, 0);
  auto rows =
      (*c)->Exec("SELECT id, name, admin_email, created_at" + where + " ORDER BY lower(name) " +
                     (query.descending ? "DESC" : "ASC") + ", id LIMIT $3 OFFSET $4",
                 Params()
                     .Text(query.name_contains)
                     .Text(LikeContains(query.name_contains))
                     .OptionalInt(query.limit > 0 ? std::optional(query.limit) : std::nullopt)
                     .Int(query.offset));
  if (!rows) return std::unexpected(rows.error());
  for (int i = 0; i < rows->size(); ++i) page.organizations.push_back(ReadOrganization(*rows, i));
  return page;
}

Status PgStore::DeleteOrganization(const std::string& id, TimeMs now, const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  static const std::string kStatements[] = {
      "UPDATE organizations SET deleted_at = $2, updated_at = $2 WHERE id = $1",
      "UPDATE projects SET deleted_at = $2, updated_at = $2 "
      "WHERE organization_id = $1 AND deleted_at IS NULL",
      "UPDATE api_tokens SET status = " + std::to_string(kRevoked) +
          ", updated_at = $2, changed_at_db = gatehouse_now_ms() "
          "WHERE organization_id = $1 AND status <> " +
          std::to_string(kRevoked)};
  for (const std::string& sql : kStatements) {
    if (auto done = (*c)->Run(sql, Params().Text(id).Int(now)); !done) return done;
  }
  if (auto done = NotifyChange(**c); !done) return done;
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  return transaction.Commit();
}

Status PgStore::CreateProject(const Project& project, const ApiToken& token,
                              const TokenCredential& credential) {
  return CreateProjectWithLimit(project, token, credential, nullptr, {});
}

Status PgStore::InsertProjectIn(pg::Connection& c, const Project& project, const ApiToken& token,
                                const TokenCredential& credential) {
  auto inserted = c.Run(
      "INSERT INTO projects(id, organization_id, name, description, admin_email, active, "
      "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      Params()
          .Text(project.id)
          .Text(project.organization_id)
          .Text(project.name)
          .Text(project.description)
          .Text(project.admin_email)
          .Text(project.active ? "true" : "false")
          .Int(project.created_at)
          .Int(project.updated_at));
  if (!inserted) {
    if (IsUniqueViolation(c.last_failure(), "projects_live_name")) {
      return Fail(ErrorCode::kProjectNameExists);
    }
    return inserted;
  }
  if (auto done = InsertTokenIn(c, token, credential); !done) return done;
  return NotifyChange(c);
}

Result<std::optional<Project>> PgStore::FindProjectWhere(const char* where,
                                                         const std::string& organization_id,
                                                         const std::string& value) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec(std::string("SELECT ") + kProjectColumns +
                             " WHERE p.deleted_at IS NULL AND p.organization_id = $1 AND " + where,
                         Params().Text(organization_id).Text(value));
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<Project>();
  return std::optional<Project>(ReadProject(*rows, 0));
}

Result<std::optional<Project>> PgStore::FindProject(const std::string& organization_id,
                                                    const std::string& project_id) {
  return FindProjectWhere("p.id = $2", organization_id, project_id);
}

Result<bool> PgStore::KnowsProject(const std::string& organization_id,
                                   const std::string& project_id) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec("SELECT 1 FROM projects WHERE organization_id = $1 AND id = $2",
                         Params().Text(organization_id).Text(project_id));
  if (!rows) return std::unexpected(rows.error());
  return !rows->empty();
}

Result<std::optional<Project>> PgStore::FindProjectByName(const std::string& organization_id,
                                                          const std::string& name) {
  return FindProjectWhere("p.name = $2", organization_id, name);
}

Result<std::vector<Project>> PgStore::ListProjects(const std::string& organization_id,
                                                   bool include_hidden) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  auto rows = (*c)->Exec(std::string("SELECT ") + kProjectColumns +
                             " WHERE p.deleted_at IS NULL AND p.organization_id = $1 "
                             "AND ($2 OR p.active) ORDER BY p.name, p.id",
                         Params().Text(organization_id).Text(include_hidden ? "true" : "false"));
  if (!rows) return std::unexpected(rows.error());
  std::vector<Project> projects;
  projects.reserve(rows->size());
  for (int i = 0; i < rows->size(); ++i) projects.push_back(ReadProject(*rows, i));
  return projects;
}

Status PgStore::UpdateProject(const Project& read, const Project& project,
                              const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  auto updated = (*c)->Exec(
      "UPDATE projects SET name = $3, description = $4, active = $5, updated_at = $6 "
      "WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL "
      "AND name = $7 AND description = $8 AND active = $9 RETURNING 1",
      Params()
          .Text(project.id)
          .Text(project.organization_id)
          .Text(project.name)
          .Text(project.description)
          .Text(project.active ? "true" : "false")
          .Int(project.updated_at)
          .Text(read.name)
          .Text(read.description)
          .Text(read.active ? "true" : "false"));
  if (!updated) {
    if (IsUniqueViolation((*c)->last_failure(), "projects_live_name")) {
      return Fail(ErrorCode::kProjectNameExists);
    }
    return std::unexpected(updated.error());
  }
  if (updated->empty()) {
    auto live = (*c)->Exec(
        "SELECT 1 FROM projects WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL",
        Params().Text(project.id).Text(project.organization_id));
    if (!live) return std::unexpected(live.error());
    if (live->empty()) return Fail(ErrorCode::kProjectNotFound);
    return Fail(ErrorCode::kConflict, {}, "project changed meanwhile");
  }
  // Tokens show their project's name: touching them lets caches on other nodes see it.
  if (auto done = (*c)->Run("UPDATE api_tokens SET updated_at = $2, project_name = $3, "
                            "changed_at_db = gatehouse_now_ms() WHERE project_id = $1",
                            Params().Text(project.id).Int(project.updated_at).Text(project.name));
      !done) {
    return done;
  }
  if (auto done = NotifyChange(**c); !done) return done;
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  return transaction.Commit();
}

Status PgStore::DeleteProject(const std::string& organization_id, const std::string& project_id,
                              TimeMs now, const AuditEntry* audit) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  Transaction transaction(**c);
  if (!transaction.begun()) return transaction.begun();
  static const std::string kStatements[] = {
      "UPDATE projects SET deleted_at = $3, updated_at = $3 "
      "WHERE id = $2 AND organization_id = $1 AND deleted_at IS NULL",
      "UPDATE api_tokens SET status = " + std::to_string(kRevoked) +
          ", updated_at = $3, changed_at_db = gatehouse_now_ms() "
          "WHERE project_id = $2 AND organization_id = $1 AND status <> " +
          std::to_string(kRevoked),
      // A deleted project's limit stops governing anything.
      "UPDATE usage_limits SET status = 4, updated_at = $3 "
      "WHERE organization_id = $1 AND project_id = $2 AND status IN (1, 3)"};
  for (const std::string& sql : kStatements) {
    if (auto done = (*c)->Run(sql, Params().Text(organization_id).Text(project_id).Int(now));
        !done) {
      return done;
    }
  }
  if (auto done = NotifyChange(**c); !done) return done;
  if (audit) {
    if (auto done = AppendAuditIn(**c, *audit); !done) return done;
  }
  return transaction.Commit();
}

}  // namespace gatehouse
