#include <boost/json/array.hpp>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"
#include "api/token_list_stream.h"
#include "api/usage_limits_api.h"

namespace gatehouse {
namespace {

// A project object with its current usage limit, if any (API.md §7).
boost::json::object ProjectWithLimitJson(ApiServices& services, const Project& project) {
  boost::json::object json = ProjectJson(project);
  if (auto limit = services.usage_limits.CurrentIfAny(project.organization_id, project.id)) {
    json["usageLimit"] = UsageLimitJson(*limit, project.name);
  }
  return json;
}

Result<boost::json::value> ListProjects(ApiServices& services, const ApiCall& call) {
  const QueryParams query(call.request.query);
  auto detail = query.Choice("detail", {"summary", "full"}, 0);
  if (!detail) return std::unexpected(detail.error());
  const auto name = query.Get("name");
  auto projects = services.projects.List(call.caller.organization_id(), *detail == 1);
  if (!projects) return std::unexpected(projects.error());
  boost::json::array out;
  for (const auto& project : *projects) {
    if (name && !name->empty() && project.name != *name) continue;
    out.push_back(ProjectWithLimitJson(services, project));
  }
  return boost::json::object{{"projects", std::move(out)}};
}

// An organization token sees every project of its organization; a project token only its own.
Result<Project> VisibleProject(ApiServices& services, const Principal& caller,
                               const std::string& project_id) {
  if (!caller.IsOrganization() && caller.project_id() != project_id) {
    return Fail(ErrorCode::kOutOfScope, {}, "another project");
  }
  return services.projects.Find(caller.organization_id(), project_id);
}

Result<boost::json::value> GetProject(ApiServices& services, const ApiCall& call) {
  const std::string& project_id = call.params[0];
  auto project = VisibleProject(services, call.caller, project_id);
  if (!project) return std::unexpected(project.error());
  return ProjectWithLimitJson(services, *project);
}

Result<boost::json::value> CreateProject(ApiServices& services, const ApiCall& call) {
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  ProjectSpec spec;
  auto name = reader.Text("name", kMaxNameLength, true);
  auto description = reader.Text("description", kMaxDescriptionLength, false);
  auto email = reader.Email("administratorUserEmail");
  const boost::json::object* limit_body = reader.Object("usageLimit");
  // Every problem of the body in one answer, the usage limit's among them (api-decisions).
  Status valid = reader.Finish();
  std::optional<UsageLimitSpec> limit_spec;
  if (limit_body) {
    if (auto read = ReadUsageLimitSpec(*limit_body); read) {
      limit_spec = std::move(*read);
    } else if (valid) {
      valid = std::unexpected(read.error());
    } else {
      for (const auto& item : read.error().items) valid.error().items.push_back(item);
    }
  }
  if (!valid) return std::unexpected(valid.error());
  spec.name = std::move(*name);
  spec.description = description.value_or("");
  spec.admin_email = email.value_or("");
  std::optional<UsageLimit> limit;
  if (limit_spec) {
    limit = NewUsageLimit(call.caller.organization_id(), {}, *limit_spec, services.clock.Now());
  }

  auto created =
      services.projects.Create(call.caller.organization_id(), spec, ActorOf(call), limit);
  if (!created) return std::unexpected(created.error());
  boost::json::object json = ProjectJson(created->project);
  if (created->limit) {
    services.usage_limits.Track(*created->limit);
    json["usageLimit"] = UsageLimitJson(*created->limit, created->project.name);
  }
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

Result<boost::json::value> UpdateProject(ApiServices& services, const ApiCall& call) {
  const std::string& project_id = call.params[0];
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto name = reader.Text("name", kMaxNameLength, true);
  ProjectChange change;
  change.description = reader.Text("description", kMaxDescriptionLength, false);
  change.active = reader.Bool("active");
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  change.name = std::move(*name);
  auto project =
      services.projects.Update(call.caller.organization_id(), project_id, change, ActorOf(call));
  if (!project) return std::unexpected(project.error());
  return ProjectWithLimitJson(services, *project);
}

Result<boost::json::value> DeleteProject(ApiServices& services, const ApiCall& call) {
  const std::string& project_id = call.params[0];
  if (auto deleted =
          services.projects.Delete(call.caller.organization_id(), project_id, ActorOf(call));
      !deleted) {
    return std::unexpected(deleted.error());
  }
  services.usage_limits.ForgetProject(call.caller.organization_id(), project_id);
  return boost::json::object{{"messages", SuccessMessages("Project deleted successfully")}};
}

// Streamed (chunked) from a cursor, so that a project of any size costs the same memory.
void ListProjectTokens(ApiServices& services, const ApiCall& call, HttpResponse& response) {
  const std::string& project_id = call.params[0];
  auto project = services.projects.Find(call.caller.organization_id(), project_id);
  if (!project) return WriteError(response, project.error());
  auto cursor = services.tokens.OpenLiveProjectTokens(call.caller.organization_id(), project_id);
  if (!cursor) return WriteError(response, cursor.error());
  auto stream = TokenListStream::Open(std::move(*cursor));
  if (!stream) return WriteError(response, stream.error());
  response.status = 200;
  response.content_type = "application/json";
  response.body_source = std::move(*stream);
}

}  // namespace

void AddOrganizationRoutes(RouteTable& routes) {
  constexpr auto kOrg = Access::kOrganization;
  routes.AddJson("GET", "/v1/organization/projects", kOrg, ListProjects);
  routes.AddJson("POST", "/v1/organization/project", kOrg, CreateProject);
  routes.AddJson("GET", "/v1/organization/project/{id}", Access::kAnyToken, GetProject);
  routes.AddJson("PUT", "/v1/organization/project/{id}", kOrg, UpdateProject);
  routes.AddJson("DELETE", "/v1/organization/project/{id}", kOrg, DeleteProject);
  routes.Add("GET", "/v1/organization/project/{id}/tokens", kOrg, ListProjectTokens);
}

}  // namespace gatehouse
