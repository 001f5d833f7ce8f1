#include <boost/json/array.hpp>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"

namespace gatehouse {
namespace {

Result<boost::json::value> ListProjects(ApiServices& services, const HttpRequest& request,
                                        const PathParams&) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  const QueryParams query(request.query);
  auto detail = query.Choice("detail", {"summary", "full"}, 0);
  if (!detail) return std::unexpected(detail.error());
  const auto name = query.Get("name");
  auto projects = services.projects.List(caller->organization_id(), *detail == 1);
  if (!projects) return std::unexpected(projects.error());
  boost::json::array out;
  for (const auto& project : *projects) {
    if (name && !name->empty() && project.name != *name) continue;
    out.push_back(ProjectJson(project));
  }
  return boost::json::object{{"projects", std::move(out)}};
}

// An organization token sees every project of its organization; a project token only its own.
Result<Project> VisibleProject(ApiServices& services, const Caller& caller,
                               const std::string& project_id) {
  if (!caller.IsOrganization() && caller.token->project_id != project_id) {
    return Fail(ErrorCode::kOutOfScope, {}, "another project");
  }
  return services.projects.Find(caller.organization_id(), project_id);
}

Result<boost::json::value> GetProject(ApiServices& services, const HttpRequest& request,
                                      const PathParams& params) {
  const std::string& project_id = params[0];
  auto caller = Authenticate(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto project = VisibleProject(services, *caller, project_id);
  if (!project) return std::unexpected(project.error());
  return ProjectJson(*project);
}

Result<boost::json::value> CreateProject(ApiServices& services, const HttpRequest& request,
                                         const PathParams&) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto body = ParseJsonBody(request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  ProjectSpec spec;
  auto name = reader.Text("name", kMaxNameLength, true);
  auto description = reader.Text("description", kMaxDescriptionLength, false);
  auto email = reader.Email("administratorUserEmail");
  // usageLimit (API.md §7) is accepted and ignored until usage limits exist.
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  spec.name = std::move(*name);
  spec.description = description.value_or("");
  spec.admin_email = email.value_or("");

  auto created = services.projects.Create(caller->organization_id(), spec);
  if (!created) return std::unexpected(created.error());
  Audit(services, *caller, "project.create", created->project.id);
  boost::json::object json = ProjectJson(created->project);
  const ApiToken& token = created->default_token.token;
  json["tokens"] = boost::json::array{boost::json::object{
      {"id", token.id},
      {"name", token.name},
      {"description", token.description},
      {"status", ToString(token.status)},
      {"scope", ToString(token.scope)},
      {"timestamp", FormatTimestamp(token.created_at)},
      {"secret", created->default_token.secret},
  }};
  return json;
}

Result<boost::json::value> UpdateProject(ApiServices& services, const HttpRequest& request,
                                         const PathParams& params) {
  const std::string& project_id = params[0];
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto body = ParseJsonBody(request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto name = reader.Text("name", kMaxNameLength, true);
  ProjectChange change;
  change.description = reader.Text("description", kMaxDescriptionLength, false);
  change.active = reader.Bool("active");
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  change.name = std::move(*name);
  auto project = services.projects.Update(caller->organization_id(), project_id, change);
  if (!project) return std::unexpected(project.error());
  Audit(services, *caller, "project.update", project_id);
  return ProjectJson(*project);
}

Result<boost::json::value> DeleteProject(ApiServices& services, const HttpRequest& request,
                                         const PathParams& params) {
  const std::string& project_id = params[0];
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  if (auto deleted = services.projects.Delete(caller->organization_id(), project_id); !deleted) {
    return std::unexpected(deleted.error());
  }
  Audit(services, *caller, "project.delete", project_id);
  return boost::json::object{{"messages", SuccessMessages("Project deleted successfully")}};
}

Result<boost::json::value> ListProjectTokens(ApiServices& services, const HttpRequest& request,
                                             const PathParams& params) {
  const std::string& project_id = params[0];
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto project = services.projects.Find(caller->organization_id(), project_id);
  if (!project) return std::unexpected(project.error());
  auto tokens =
      services.tokens.ListLive(caller->organization_id(), TokenScope::kProject, project_id);
  if (!tokens) return std::unexpected(tokens.error());
  return boost::json::object{{"tokens", TokensJson(*tokens)}};
}

}  // namespace

void AddOrganizationRoutes(Router& router, ApiServices& services) {
  router.Add("GET", "/v1/organization/projects", JsonRoute(services, ListProjects));
  router.Add("POST", "/v1/organization/project", JsonRoute(services, CreateProject));
  router.Add("GET", "/v1/organization/project/{id}", JsonRoute(services, GetProject));
  router.Add("PUT", "/v1/organization/project/{id}", JsonRoute(services, UpdateProject));
  router.Add("DELETE", "/v1/organization/project/{id}", JsonRoute(services, DeleteProject));
  router.Add("GET", "/v1/organization/project/{id}/tokens", JsonRoute(services, ListProjectTokens));
}

}  // namespace gatehouse
