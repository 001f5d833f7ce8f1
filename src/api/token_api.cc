#include <boost/json/array.hpp>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::int64_t kMaxGraceSeconds = 86400;

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
Result<TokenChange> ReadTokenFields(BodyReader& reader, bool creating) {
  TokenChange change;
  if (creating || reader.Has("name")) change.name = reader.Text("name", kMaxNameLength, true);
  change.description = reader.Text("description", kMaxDescriptionLength, false);
  change.status = reader.Status("status");
  change.expires_at = reader.Timestamp("expiresAt");
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
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
  return spec;
}

boost::json::object WithSecret(const IssuedToken& issued) {
  boost::json::object json = TokenJson(issued.token);
  json["secret"] = issued.secret;
  return json;
}

// The project named by the `project-id` (or `ProjectId`) header, else by the body's projectId.
std::string ProjectIdOf(const HttpRequest& request, const boost::json::object* body) {
  for (auto header : {"project-id", "ProjectId"}) {
    if (auto value = request.Header(header); !value.empty()) return std::string(value);
  }
  if (body) {
    for (const auto& entry : *body) {
      if (EqualsIgnoreCase(entry.key(), "projectId") && entry.value().is_string()) {
        return std::string(entry.value().as_string());
      }
    }
  }
  return {};
}

// The token `token_id` of the caller's organization with the given scope; for project tokens
// addressed with a project-id header, also of that project. Anything else is 404 id 9004.
Result<ApiToken> FindScoped(ApiServices& services, const Caller& caller, const HttpRequest& request,
                            const std::string& token_id, TokenScope scope) {
  auto token = services.tokens.Find(caller.organization_id(), token_id);
  if (!token) return token;
  if (token->scope != scope) return Fail(ErrorCode::kApiTokenNotFound);
  if (scope == TokenScope::kProject) {
    const std::string project_id = ProjectIdOf(request, nullptr);
    if (!project_id.empty() && project_id != token->project_id) {
      return Fail(ErrorCode::kApiTokenNotFound);
    }
  }
  return token;
}

Result<boost::json::value> CreateToken(ApiServices& services, const HttpRequest& request,
                                       TokenScope scope) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto body = ParseJsonBody(request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto fields = ReadTokenFields(reader, true);
  if (!fields) return std::unexpected(fields.error());
  TokenSpec spec = SpecFrom(*fields, scope, caller->organization_id());
  if (scope == TokenScope::kProject) {
    const std::string project_id = ProjectIdOf(request, &*body);
    if (project_id.empty()) return Fail(ErrorCode::kRequired, "projectId");
    auto project = services.projects.Find(caller->organization_id(), project_id);
    if (!project) return std::unexpected(project.error());
    spec.project_id = project->id;
    spec.project_name = project->name;
  }
  auto issued = services.tokens.Create(spec);
  if (!issued) return std::unexpected(issued.error());
  Audit(services, *caller, "token.create", issued->token.id);
  boost::json::object json = WithSecret(*issued);
  json["messages"] = SuccessMessages("Token created successfully");
  return json;
}

Result<boost::json::value> GetToken(ApiServices& services, const HttpRequest& request,
                                    const std::string& token_id, TokenScope scope) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto token = FindScoped(services, *caller, request, token_id, scope);
  if (!token) return std::unexpected(token.error());
  return TokenJson(*token);
}

Result<boost::json::value> UpdateToken(ApiServices& services, const HttpRequest& request,
                                       const std::string& token_id, TokenScope scope) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto body = ParseJsonBody(request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto change = ReadTokenFields(reader, false);
  if (!change) return std::unexpected(change.error());
  if (auto token = FindScoped(services, *caller, request, token_id, scope); !token) {
    return std::unexpected(token.error());
  }
  auto token = services.tokens.Update(caller->organization_id(), token_id, *change);
  if (!token) return std::unexpected(token.error());
  Audit(services, *caller, "token.update", token_id);
  boost::json::object json = TokenJson(*token);
  json["messages"] = SuccessMessages("Token updated successfully");
  return json;
}

Result<boost::json::value> DeleteToken(ApiServices& services, const HttpRequest& request,
                                       const std::string& token_id, TokenScope scope) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  if (auto token = FindScoped(services, *caller, request, token_id, scope); !token) {
    return std::unexpected(token.error());
  }
  if (auto revoked = services.tokens.Revoke(caller->organization_id(), token_id); !revoked) {
    return std::unexpected(revoked.error());
  }
  Audit(services, *caller, "token.revoke", token_id);
  return boost::json::object{{"messages", SuccessMessages("Token deleted successfully")}};
}

Result<boost::json::value> ListOrganizationTokens(ApiServices& services, const HttpRequest& request,
                                                  const PathParams&) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto tokens = services.tokens.ListLive(caller->organization_id(), TokenScope::kOrganization);
  if (!tokens) return std::unexpected(tokens.error());
  return boost::json::object{{"tokens", TokensJson(*tokens)}};
}

Result<boost::json::value> SearchTokens(ApiServices& services, const HttpRequest& request,
                                        const PathParams&) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  const QueryParams params(request.query);
  auto scope = params.Choice("scope", {"all", "organization", "project"}, 0);
  auto status = params.Choice("status", {"all", "active", "blocked", "revoked"}, 0);
  auto order_key = params.Choice(
      "orderKey", {"name", "description", "status", "projectName", "timestamp", "lastUsedAt"}, 0);
  auto direction = params.Choice("orderDirection", {"asc", "desc"}, 0);
  auto paging = ReadPage(params);
  if (auto error = FirstError(scope, status, order_key, direction, paging)) {
    return std::unexpected(std::move(*error));
  }

  TokenQuery query;
  query.organization_id = caller->organization_id();
  if (*scope == 1) query.scope = TokenScope::kOrganization;
  if (*scope == 2) query.scope = TokenScope::kProject;
  query.name_contains = params.Get("name").value_or("");
  query.project_name_contains = params.Get("projectName").value_or("");
  static const std::vector<TokenStatus> kStatusFilters[] = {
      {TokenStatus::kActive, TokenStatus::kBlocked},
      {TokenStatus::kActive},
      {TokenStatus::kBlocked},
      {TokenStatus::kRevoked}};
  query.statuses = kStatusFilters[*status];
  query.order_key = static_cast<TokenOrderKey>(*order_key);
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

Result<boost::json::value> RevealToken(ApiServices& services, const HttpRequest& request,
                                       const PathParams& params) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto secret = services.tokens.Reveal(caller->organization_id(), params[0], caller->token->id);
  if (!secret) return std::unexpected(secret.error());
  return boost::json::object{{"secret", std::move(*secret)}};
}

Result<boost::json::value> RotateToken(ApiServices& services, const HttpRequest& request,
                                       const PathParams& params) {
  auto caller = AuthenticateOrganization(request, services);
  if (!caller) return std::unexpected(caller.error());
  auto body = ParseJsonBody(request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  const auto grace = reader.Integer("graceSeconds", 0, kMaxGraceSeconds);
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  auto issued = services.tokens.Rotate(caller->organization_id(), params[0],
                                       static_cast<int>(grace.value_or(0)), caller->token->id);
  if (!issued) return std::unexpected(issued.error());
  return WithSecret(*issued);
}

// Binds a scope-generic handler to one of the two token paths.
template <TokenScope kScope, auto kHandler>
Result<boost::json::value> Scoped(ApiServices& services, const HttpRequest& request,
                                  const PathParams& params) {
  if constexpr (requires { kHandler(services, request, kScope); }) {
    return kHandler(services, request, kScope);
  } else {
    return kHandler(services, request, params[0], kScope);
  }
}

}  // namespace

void AddTokenRoutes(Router& router, ApiServices& services) {
  constexpr auto kProject = TokenScope::kProject;
  constexpr auto kOrganization = TokenScope::kOrganization;
  router.Add("POST", "/v2/projects/tokens", JsonRoute(services, Scoped<kProject, CreateToken>));
  router.Add("GET", "/v2/projects/tokens/{id}", JsonRoute(services, Scoped<kProject, GetToken>));
  router.Add("PUT", "/v2/projects/tokens/{id}", JsonRoute(services, Scoped<kProject, UpdateToken>));
  router.Add("DELETE", "/v2/projects/tokens/{id}",
             JsonRoute(services, Scoped<kProject, DeleteToken>));

  router.Add("GET", "/v2/organization/tokens", JsonRoute(services, ListOrganizationTokens));
  router.Add("POST", "/v2/organization/tokens",
             JsonRoute(services, Scoped<kOrganization, CreateToken>));
  router.Add("GET", "/v2/organization/tokens/{id}",
             JsonRoute(services, Scoped<kOrganization, GetToken>));
  router.Add("PUT", "/v2/organization/tokens/{id}",
             JsonRoute(services, Scoped<kOrganization, UpdateToken>));
  router.Add("DELETE", "/v2/organization/tokens/{id}",
             JsonRoute(services, Scoped<kOrganization, DeleteToken>));

  router.Add("GET", "/v2/tokens", JsonRoute(services, SearchTokens));
  router.Add("POST", "/v2/tokens/{id}/reveal", JsonRoute(services, RevealToken));
  router.Add("POST", "/v2/tokens/{id}/rotate", JsonRoute(services, RotateToken));
}

}  // namespace gatehouse
