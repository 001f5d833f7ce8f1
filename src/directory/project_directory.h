#ifndef GATEHOUSE_DIRECTORY_PROJECT_DIRECTORY_H_
#define GATEHOUSE_DIRECTORY_PROJECT_DIRECTORY_H_

#include <optional>
#include <string>
#include <vector>

#include "directory/token_directory.h"

namespace gatehouse {

struct ProjectSpec {
  std::string name;
  std::string description;
  std::string admin_email;
};

struct ProjectChange {
  std::string name;
  std::optional<std::string> description;
  std::optional<bool> active;
};

struct CreatedProject {
  Project project;
  IssuedToken default_token;
  std::optional<UsageLimit> limit;  // the limit created with it, if any
};

inline constexpr std::string_view kDefaultProjectTokenName = "Default";
inline constexpr std::string_view kDefaultProjectTokenDescription = "Default token";

// The rules of projects (API.md §4): a new project comes with its default token, a deleted one
// takes its tokens with it. Thread-safe; `store` and `tokens` must outlive it.
class ProjectDirectory {
 public:
  ProjectDirectory(Store& store, TokenDirectory& tokens, const Clock& clock);

  // Creates the project, its default token and, when given, its usage limit (whose project id
  // is filled in), with their audit events, in one transaction.
  Result<CreatedProject> Create(const std::string& organization_id, const ProjectSpec& spec,
                                const AuditActor& actor = AuditActor::System(),
                                std::optional<UsageLimit> limit = std::nullopt);
  // 404 id 2005 unless the project exists (not deleted) in `organization_id`.
  Result<Project> Find(const std::string& organization_id, const std::string& project_id);
  Result<std::vector<Project>> List(const std::string& organization_id, bool include_hidden);
  // Applies `change` to the project as it is stored: a change that another one overtook between
  // the read and the write is applied again onto that one's result.
  Result<Project> Update(const std::string& organization_id, const std::string& project_id,
                         const ProjectChange& change,
                         const AuditActor& actor = AuditActor::System());
  // Also cancels the project's current usage limit.
  Status Delete(const std::string& organization_id, const std::string& project_id,
                const AuditActor& actor = AuditActor::System());

 private:
  Result<Project> UpdateOnce(const std::string& organization_id, const std::string& project_id,
                             const ProjectChange& change, const AuditActor& actor);

  Store& store_;
  TokenDirectory& tokens_;
  const Clock& clock_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_DIRECTORY_PROJECT_DIRECTORY_H_
