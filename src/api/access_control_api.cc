#include <optional>
#include <string>
#include <string_view>

#include "api/routes.h"
#include "core/text.h"

namespace gatehouse {
namespace {

// Appends `"key":"value"`, or `"key":null` without a value, with a comma before every field
// but the first.
void AppendField(std::string& out, std::string_view key, std::optional<std::string_view> value) {
  if (out.size() > 1) out += ',';
  out += '"';
  out += key;
  out += "\":";
  if (!value) {
    out += "null";
    return;
  }
  out += '"';
  AppendJsonEscaped(out, *value);
  out += '"';
}

// The cheapest authenticated call, answered on the event loop: the body is written as text
// rather than built as a JSON tree and serialized (2.5 % of the server's CPU per validate).
void Validate(ApiServices& services, const ApiCall& call, HttpResponse& response) {
  const CachedToken& token = *call.caller.token;
  const bool in_project = !token.project_id().empty();
  const std::string organization_name = services.cache.NameOf(token.organization_id());
  const std::string project_name = in_project ? services.cache.NameOf(token.project_id()) : "";
  const auto if_in_project = [in_project](std::string_view text) {
    return in_project ? std::optional<std::string_view>(text) : std::nullopt;
  };
  std::string& body = response.body;
  body.clear();
  body.reserve(256);
  body.push_back('{');
  AppendField(body, "organizationId", token.organization_id());
  AppendField(body, "organizationName", organization_name);
  AppendField(body, "projectId", if_in_project(token.project_id()));
  AppendField(body, "projectName", if_in_project(project_name));
  AppendField(body, "apiTokenId", token.id());
  AppendField(body, "apiTokenName", token.name());
  AppendField(body, "scope", ToString(token.scope));
  AppendField(body, "status", ToString(token.status));
  body += '}';
  response.status = 200;
  response.content_type = "application/json";
}

}  // namespace

void AddAccessControlRoutes(RouteTable& routes) {
  routes.Add("GET", "/v1/accessControl/apitoken/validate", Access::kAnyToken, Validate,
             SessionUse::kAllowed, Work::kInMemory);
}

}  // namespace gatehouse
