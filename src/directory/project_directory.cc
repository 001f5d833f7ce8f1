#include "directory/project_directory.h"

#include "core/ids.h"

namespace gatehouse {

ProjectDirectory::ProjectDirectory(Store& store, TokenDirectory& tokens, const Clock& clock)
    : store_(store), tokens_(tokens), clock_(clock) {}

Result<CreatedProject> ProjectDirectory::Create(const std::string& organization_id,
                                                const ProjectSpec& spec) {
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
  if (auto stored = store_.CreateProject(project, created.default_token.token, credential);
      !stored) {
    return std::unexpected(stored.error());
  }
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
                                         const std::string& project_id,
                                         const ProjectChange& change) {
  auto project = Find(organization_id, project_id);
  if (!project) return project;
  project->name = change.name;
  if (change.description) project->description = *change.description;
  if (change.active) project->active = *change.active;
  project->updated_at = clock_.Now();
  if (auto stored = store_.UpdateProject(*project); !stored) {
    return std::unexpected(stored.error());
  }
  if (auto synced = tokens_.SyncCache(); !synced) return std::unexpected(synced.error());
  return project;
}

Status ProjectDirectory::Delete(const std::string& organization_id, const std::string& project_id) {
  if (auto project = Find(organization_id, project_id); !project) {
    return std::unexpected(project.error());
  }
  if (auto deleted = store_.DeleteProject(organization_id, project_id, clock_.Now()); !deleted) {
    return deleted;
  }
  // The store revoked the project's tokens; the cache learns it before this call returns.
  return tokens_.SyncCache();
}

}  // namespace gatehouse
