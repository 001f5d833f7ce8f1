#include "directory/project_directory.h"

#include "core/audit_details.h"
#include "core/ids.h"
#include "directory/conflict_retry.h"

namespace gatehouse {

ProjectDirectory::ProjectDirectory(Store& store, TokenDirectory& tokens, const Clock& clock)
    : store_(store), tokens_(tokens), clock_(clock) {}

namespace {

AuditEntry ProjectAudit(const AuditActor& actor, const Project& project, std::string action,
                        TimeMs at, const AuditDetails& details) {
  return MakeAuditEntry(actor, project.organization_id, std::move(action), "project", project.id,
                        project.name, at, details.empty() ? std::string() : details.Json());
}

}  // namespace

Result<CreatedProject> ProjectDirectory::Create(const std::string& organization_id,
                                                const ProjectSpec& spec, const AuditActor& actor,
                                                std::optional<UsageLimit> limit) {
  auto organization = store_.FindOrganization(organization_id);
  if (!organization) return std::unexpected(organization.error());
  if (!*organization) return Fail(ErrorCode::kOrganizationNotFound);

  const TimeMs now = clock_.Now();
  CreatedProject created;
  Project& project = created.project;
  project.id = NewUuid();
  project.organization_id = organization_id;
  project.organization_name = (*organization)->name;
  project.name = spec.name;
  project.description = spec.description;
  project.admin_email = spec.admin_email;
  project.created_at = now;
  project.updated_at = now;

  TokenSpec token_spec;
  token_spec.organization_id = organization_id;
  token_spec.project_id = project.id;
  token_spec.project_name = project.name;
  token_spec.name = kDefaultProjectTokenName;
  token_spec.description = kDefaultProjectTokenDescription;
  TokenCredential credential;
  created.default_token = tokens_.Mint(token_spec, now, credential);
  AuditDetails details;
  details.Set("name", project.name);
  details.Set("description", project.description);
  if (!project.admin_email.empty()) details.Set("administratorUserEmail", project.admin_email);
  // Newest first, the trail reads: limit.create, project.create, token.create (its default).
  const ApiToken& token = created.default_token.token;
  AuditDetails token_details;
  token_details.Set("name", token.name);
  token_details.Set("scope", ToString(token.scope));
  token_details.Set("projectId", project.id);
  std::vector<AuditEntry> audit{MakeAuditEntry(actor, organization_id, "token.create", "token",
                                               token.id, token.name, now, token_details.Json())};
  audit.push_back(ProjectAudit(actor, project, "project.create", now, details));
  if (limit) {
    limit->organization_id = organization_id;
    limit->project_id = project.id;
    AuditDetails limit_details;
    limit_details.Set("subscriptionType", ToString(limit->subscription));
    limit_details.Set("usageUnit", ToString(limit->unit));
    limit_details.Set("softLimit", limit->soft_limit);
    limit_details.Set("hardLimit", limit->hard_limit);
    limit_details.Set("renewalStatus", ToString(limit->renewal));
    audit.push_back(MakeAuditEntry(actor, organization_id, "limit.create", "limit", limit->id,
                                   project.name, now, limit_details.Json()));
  }
  if (auto stored = store_.CreateProjectWithLimit(project, token, credential,
                                                  limit ? &*limit : nullptr, audit);
      !stored) {
    return std::unexpected(stored.error());
  }
  created.limit = std::move(limit);
  tokens_.Publish(created.default_token.token, credential);
  return created;
}

Result<Project> ProjectDirectory::Find(const std::string& organization_id,
                                       const std::string& project_id) {
  auto found = store_.FindProject(organization_id, project_id);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kProjectNotFound);
  return std::move(**found);
}

Result<std::vector<Project>> ProjectDirectory::List(const std::string& organization_id,
                                                    bool include_hidden) {
  return store_.ListProjects(organization_id, include_hidden);
}

Result<Project> ProjectDirectory::Update(const std::string& organization_id,
                                         const std::string& project_id, const ProjectChange& change,
                                         const AuditActor& actor) {
  return RetryOnConflict([&] { return UpdateOnce(organization_id, project_id, change, actor); });
}

Result<Project> ProjectDirectory::UpdateOnce(const std::string& organization_id,
                                             const std::string& project_id,
                                             const ProjectChange& change, const AuditActor& actor) {
  auto project = Find(organization_id, project_id);
  if (!project) return project;
  const Project before = *project;
  project->name = change.name;
  if (change.description) project->description = *change.description;
  if (change.active) project->active = *change.active;
  project->updated_at = clock_.Now();
  AuditDetails details;
  details.Change("name", before.name, project->name);
  details.Change("description", before.description, project->description);
  details.Change("active", before.active, project->active);
  const AuditEntry audit =
      ProjectAudit(actor, *project, "project.update", project->updated_at, details);
  if (auto stored = store_.UpdateProject(before, *project, &audit); !stored) {
    return std::unexpected(stored.error());
  }
  if (auto synced = tokens_.SyncCache(); !synced) return std::unexpected(synced.error());
  return project;
}

Status ProjectDirectory::Delete(const std::string& organization_id, const std::string& project_id,
                                const AuditActor& actor) {
  auto project = Find(organization_id, project_id);
  if (!project) return std::unexpected(project.error());
  const TimeMs now = clock_.Now();
  const AuditEntry audit = ProjectAudit(actor, *project, "project.delete", now, {});
  if (auto deleted = store_.DeleteProject(organization_id, project_id, now, &audit); !deleted) {
    return deleted;
  }
  // The store revoked the project's tokens; the cache learns it before this call returns.
  return tokens_.SyncCache();
}

}  // namespace gatehouse
