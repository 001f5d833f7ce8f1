#include <boost/json/array.hpp>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"
#include "http/event_loop.h"

namespace gatehouse {
namespace {

constexpr std::int64_t kMaxGraceSeconds = 86400;
constexpr std::int64_t kMaxRatePerMinute = 1000000000;

// The first failure among several parsed query parameters.
template <typename... Results>
std::optional<Error> FirstError(const Results&... results) {
  std::optional<Error> error;
  auto check = [&error](const auto& result) {
    if (!error && !result) error = result.error();
  };
  (check(results), ...);
  return error;
}

// Reads the fields a token create or update may carry; `creating` makes the name required.
// Organization tokens carry allowedCidrs only: a model or assistant list on one is 400 id 11
// (null, which restricts nothing, is accepted).
Result<TokenChange> ReadTokenFields(BodyReader& reader, bool creating, TokenScope scope) {
  TokenChange change;
  if (creating || reader.Has("name")) change.name = reader.Text("name", kMaxNameLength, true);
  change.description = reader.Text("description", kMaxDescriptionLength, false);
  change.status = reader.Status("status");
  change.expires_at = reader.Timestamp("expiresAt");
  change.rate_limit_per_minute = reader.OptionalInteger("rateLimitPerMinute", 1, kMaxRatePerMinute);
  change.allowed_models = reader.StringList("allowedModels", ValidModelPatterns);
  change.allowed_assistants = reader.StringList("allowedAssistants", ValidAssistantNames);
  change.allowed_cidrs = reader.StringList("allowedCidrs", ValidCidrs);
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  if (scope == TokenScope::kOrganization) {
    if (change.allowed_models.value_or(std::nullopt)) {
      return Fail(ErrorCode::kPattern, "allowedModels", "model list on an organization token");
    }
    if (change.allowed_assistants.value_or(std::nullopt)) {
      return Fail(ErrorCode::kPattern, "allowedAssistants",
                  "assistant list on an organization token");
    }
  }
  return change;
}

TokenSpec SpecFrom(const TokenChange& change, TokenScope scope,
                   const std::string& organization_id) {
  TokenSpec spec;
  spec.scope = scope;
  spec.organization_id = organization_id;
  spec.name = change.name.value_or("");
  spec.description = change.description.value_or("");
  spec.status = change.status.value_or(TokenStatus::kActive);
  spec.expires_at = change.expires_at.value_or(std::nullopt);
  spec.rate_limit_per_minute = change.rate_limit_per_minute.value_or(std::nullopt);
  spec.permissions.allowed_models = change.allowed_models.value_or(std::nullopt);
  spec.permissions.allowed_assistants = change.allowed_assistants.value_or(std::nullopt);
  spec.permissions.allowed_cidrs = change.allowed_cidrs.value_or(std::nullopt);
  return spec;
}

boost::json::object WithSecret(const IssuedToken& issued) {
  boost::json::object json = TokenJson(issued.token);
  json["secret"] = issued.secret;
  return json;
}

// The project named by the `project-id` (or `ProjectId`) header, else by the body's projectId;
// empty when neither names one. A body projectId neither text nor null is 400 id 11 (a wrong
// JSON type, not a missing field).
Result<std::string> ProjectIdOf(const HttpRequest& request, const boost::json::object* body) {
  for (auto header : {"project-id", "ProjectId"}) {
    if (auto value = request.Header(header); !value.empty()) return std::string(value);
  }
  if (body) {
    for (const auto& entry : *body) {
      if (!EqualsIgnoreCase(entry.key(), "projectId") || entry.value().is_null()) continue;
      if (!entry.value().is_string()) return Fail(ErrorCode::kPattern, "projectId");
      return std::string(entry.value().as_string());
    }
  }
  return std::string();
}

// The token `token_id` of the caller's organization with the given scope; for project tokens
// addressed with a project-id header, also of that project. Anything else is 404 id 9004.
Result<ApiToken> FindScoped(ApiServices& services, const ApiCall& call, const std::string& token_id,
                            TokenScope scope) {
  auto token = services.tokens.Find(call.caller.organization_id(), token_id);
  if (!token) return token;
  if (token->scope != scope) return Fail(ErrorCode::kApiTokenNotFound);
  if (scope == TokenScope::kProject) {
    const std::string project_id = ProjectIdOf(call.request, nullptr).value_or("");
    if (!project_id.empty() && project_id != token->project_id) {
      return Fail(ErrorCode::kApiTokenNotFound);
    }
  }
  return token;
}

// The answer to a creation: the token with its secret, or the error.
Result<boost::json::value> CreatedJson(const Result<IssuedToken>& issued) {
  if (!issued) return std::unexpected(issued.error());
  boost::json::object json = WithSecret(*issued);
  json["messages"] = SuccessMessages("Token created successfully");
  return json;
}

// A project token: the project is read from the store, so this runs on the blocking pool.
Result<boost::json::value> CreateProjectToken(ApiServices& services, const ApiCall& call) {
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto fields = ReadTokenFields(reader, true, TokenScope::kProject);
  const auto project_id = ProjectIdOf(call.request, &*body);
  // One answer lists every problem of the body: the fields' and then the project's.
  std::optional<Error> project_problem;
  if (!project_id) {
    project_problem = project_id.error();
  } else if (project_id->empty()) {
    project_problem = Error(ErrorCode::kRequired, "projectId");
  }
  if (!fields) {
    Error error = fields.error();
    if (project_problem) error.items.push_back(project_problem->items.front());
    return std::unexpected(std::move(error));
  }
  if (project_problem) return std::unexpected(std::move(*project_problem));
  TokenSpec spec = SpecFrom(*fields, TokenScope::kProject, call.caller.organization_id());
  auto project = services.projects.Find(call.caller.organization_id(), *project_id);
  if (!project) return std::unexpected(project.error());
  spec.project_id = project->id;
  spec.project_name = project->name;
  return CreatedJson(services.tokens.Create(spec, ActorOf(call)));
}

// An organization token needs nothing from the store before it is written, so no thread
// waits for its commit: the request is read and the secret minted on the event loop, the
// store's writer thread stores the token with every creation queued meanwhile (group
// commit), and the answer is rendered back on the loop once the commit has finished.
void CreateOrganizationToken(ApiServices& services, const ApiCall& call, HttpResponse& response) {
  auto body = ParseJsonBody(call.request);
  if (!body) return WriteError(response, body.error());
  BodyReader reader(*body);
  auto fields = ReadTokenFields(reader, true, TokenScope::kOrganization);
  if (!fields) return WriteError(response, fields.error());
  response.async = [&services,
                    spec =
                        SpecFrom(*fields, TokenScope::kOrganization, call.caller.organization_id()),
                    actor = ActorOf(call)](HttpResponse& response, std::function<void()> done) {
    boost::asio::io_context* loop = CurrentEventLoop();
    services.tokens.Create(spec, actor, [loop, &response, done](Result<IssuedToken> issued) {
      PostToEventLoop(*loop, [&response, done, issued = std::move(issued)] {
        Respond(response, CreatedJson(issued));
        done();
      });
    });
  };
}

Result<boost::json::value> GetToken(ApiServices& services, const ApiCall& call,
                                    const std::string& token_id, TokenScope scope) {
  auto token = FindScoped(services, call, token_id, scope);
  if (!token) return std::unexpected(token.error());
  return TokenJson(*token);
}

Result<boost::json::value> UpdateToken(ApiServices& services, const ApiCall& call,
                                       const std::string& token_id, TokenScope scope) {
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto change = ReadTokenFields(reader, false, scope);
  if (!change) return std::unexpected(change.error());
  if (auto token = FindScoped(services, call, token_id, scope); !token) {
    return std::unexpected(token.error());
  }
  auto token =
      services.tokens.Update(call.caller.organization_id(), token_id, *change, ActorOf(call));
  if (!token) return std::unexpected(token.error());
  boost::json::object json = TokenJson(*token);
  json["messages"] = SuccessMessages("Token updated successfully");
  return json;
}

Result<boost::json::value> DeleteToken(ApiServices& services, const ApiCall& call,
                                       const std::string& token_id, TokenScope scope) {
  if (auto token = FindScoped(services, call, token_id, scope); !token) {
    return std::unexpected(token.error());
  }
  if (auto revoked = services.tokens.Revoke(call.caller.organization_id(), token_id, ActorOf(call));
      !revoked) {
    return std::unexpected(revoked.error());
  }
  return boost::json::object{{"messages", SuccessMessages("Token deleted successfully")}};
}

Result<boost::json::value> ListOrganizationTokens(ApiServices& services, const ApiCall& call) {
  auto tokens = services.tokens.ListLive(call.caller.organization_id(), TokenScope::kOrganization);
  if (!tokens) return std::unexpected(tokens.error());
  return boost::json::object{{"tokens", TokensJson(*tokens)}};
}

Result<boost::json::value> SearchTokens(ApiServices& services, const ApiCall& call) {
  const QueryParams params(call.request.query);
  auto scope = params.Choice("scope", {"all", "organization", "project"}, 0);
  auto status = params.Choice("status", {"all", "active", "blocked", "revoked"}, 0);
  auto order_key = params.Choice(
      "orderKey", {"name", "description", "status", "projectName", "timestamp", "lastUsedAt"}, 0);
  // The wire names above, in order, and the sort key each one means.
  static constexpr TokenOrderKey kOrderKeys[] = {
      TokenOrderKey::kName,        TokenOrderKey::kDescription, TokenOrderKey::kStatus,
      TokenOrderKey::kProjectName, TokenOrderKey::kTimestamp,   TokenOrderKey::kLastUsedAt};
  auto direction = params.Choice("orderDirection", {"asc", "desc"}, 0);
  auto paging = ReadPage(params);
  if (auto error = FirstError(scope, status, order_key, direction, paging)) {
    return std::unexpected(std::move(*error));
  }

  TokenQuery query;
  query.organization_id = call.caller.organization_id();
  if (*scope == 1) query.scope = TokenScope::kOrganization;
  if (*scope == 2) query.scope = TokenScope::kProject;
  query.name_contains = params.Get("name").value_or("");
  query.project_name_contains = params.Get("projectName").value_or("");
  // One project's tokens, exactly (docs/api-decisions.md): a name filter cannot tell apart two
  // projects whose names contain one another. Another organization's project matches nothing.
  query.project_id = params.Get("projectId").value_or("");
  static const std::vector<TokenStatus> kStatusFilters[] = {
      {TokenStatus::kActive, TokenStatus::kBlocked},
      {TokenStatus::kActive},
      {TokenStatus::kBlocked},
      {TokenStatus::kRevoked}};
  query.statuses = kStatusFilters[*status];
  query.order_key = kOrderKeys[*order_key];
  query.descending = *direction == 1;
  query.limit = paging->page_size;
  query.offset = paging->offset();

  auto page = services.tokens.Search(query);
  if (!page) return std::unexpected(page.error());
  return boost::json::object{
      {"count", page->count},
      {"pages", paging->PagesFor(page->count)},
      {"startPage", paging->start_page},
      {"pageSize", paging->page_size},
      {"tokens", TokensJson(page->tokens)},
  };
}

Result<boost::json::value> RevealToken(ApiServices& services, const ApiCall& call) {
  auto secret =
      services.tokens.Reveal(call.caller.organization_id(), call.params[0], ActorOf(call));
  if (!secret) return std::unexpected(secret.error());
  return boost::json::object{{"secret", std::move(*secret)}};
}

Result<boost::json::value> RotateToken(ApiServices& services, const ApiCall& call) {
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  const auto grace = reader.Integer("graceSeconds", 0, kMaxGraceSeconds);
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  auto issued = services.tokens.Rotate(call.caller.organization_id(), call.params[0],
                                       static_cast<int>(grace.value_or(0)), ActorOf(call));
  if (!issued) return std::unexpected(issued.error());
  return WithSecret(*issued);
}

// Binds a scope-generic handler to one of the two token paths.
template <TokenScope kScope, auto kHandler>
Result<boost::json::value> Scoped(ApiServices& services, const ApiCall& call) {
  if constexpr (requires { kHandler(services, call, kScope); }) {
    return kHandler(services, call, kScope);
  } else {
    return kHandler(services, call, call.params[0], kScope);
  }
}

}  // namespace

void AddTokenRoutes(RouteTable& routes) {
  constexpr auto kProject = TokenScope::kProject;
  constexpr auto kOrganization = TokenScope::kOrganization;
  constexpr auto kOrg = Access::kOrganization;
  routes.AddJson("POST", "/v2/projects/tokens", kOrg, CreateProjectToken);
  routes.AddJson("GET", "/v2/projects/tokens/{id}", kOrg, Scoped<kProject, GetToken>);
  routes.AddJson("PUT", "/v2/projects/tokens/{id}", kOrg, Scoped<kProject, UpdateToken>);
  routes.AddJson("DELETE", "/v2/projects/tokens/{id}", kOrg, Scoped<kProject, DeleteToken>);

  routes.AddJson("GET", "/v2/organization/tokens", kOrg, ListOrganizationTokens);
  routes.Add("POST", "/v2/organization/tokens", kOrg, CreateOrganizationToken, SessionUse::kAllowed,
             Work::kInMemory);
  routes.AddJson("GET", "/v2/organization/tokens/{id}", kOrg, Scoped<kOrganization, GetToken>);
  routes.AddJson("PUT", "/v2/organization/tokens/{id}", kOrg, Scoped<kOrganization, UpdateToken>);
  routes.AddJson("DELETE", "/v2/organization/tokens/{id}", kOrg,
                 Scoped<kOrganization, DeleteToken>);

  routes.AddJson("GET", "/v2/tokens", kOrg, SearchTokens);
  routes.AddJson("POST", "/v2/tokens/{id}/reveal", kOrg, RevealToken);
  routes.AddJson("POST", "/v2/tokens/{id}/rotate", kOrg, RotateToken);
}

}  // namespace gatehouse
