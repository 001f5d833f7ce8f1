#include "api/render.h"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

namespace gatehouse {

boost::json::value TimestampJson(std::optional<TimeMs> ms) {
  if (!ms) return nullptr;
  return boost::json::string(FormatTimestamp(*ms));
}

boost::json::object AuditEventJson(const AuditEvent& event) {
  const AuditEntry& entry = event.entry;
  boost::json::value details = boost::json::object();
  if (!entry.details.empty()) {
    boost::system::error_code error;
    auto parsed = boost::json::parse(entry.details, error);
    if (!error && parsed.is_object()) details = std::move(parsed);
  }
  return boost::json::object{
      {"id", entry.id},
      {"timestamp", FormatTimestamp(entry.at)},
      {"action", entry.action},
      {"actor", event.actor},
      {"actorTokenId", entry.actor_token_id},
      {"remoteAddress", entry.remote_address},
      {"target", event.target},
      {"targetId", entry.target_id},
      {"targetType", entry.target_type},
      {"details", std::move(details)},
  };
}

boost::json::object TokenJson(const ApiToken& token) {
  boost::json::object json{
      {"id", token.id},
      {"name", token.name},
      {"description", token.description},
      {"status", ToString(token.status)},
      {"scope", ToString(token.scope)},
  };
  if (token.scope == TokenScope::kProject) {
    json["projectId"] = token.project_id;
    json["projectName"] = token.project_name;
  }
  json["organizationId"] = token.organization_id;
  json["timestamp"] = FormatTimestamp(token.created_at);
  json["lastUsedAt"] = TimestampJson(token.last_used_at);
  json["expiresAt"] = TimestampJson(token.expires_at);
  json["secretPrefix"] = token.secret_prefix;
  json["rateLimitPerMinute"] = token.rate_limit_per_minute
                                   ? boost::json::value(*token.rate_limit_per_minute)
                                   : boost::json::value(nullptr);
  if (token.scope == TokenScope::kProject) {
    json["allowedModels"] = PermissionListJson(token.permissions.allowed_models);
    json["allowedAssistants"] = PermissionListJson(token.permissions.allowed_assistants);
  }
  json["allowedCidrs"] = PermissionListJson(token.permissions.allowed_cidrs);
  return json;
}

boost::json::array TokensJson(const std::vector<ApiToken>& tokens) {
  boost::json::array out;
  out.reserve(tokens.size());
  for (const auto& token : tokens) out.push_back(TokenJson(token));
  return out;
}

boost::json::object LlmSettingsJson(const LlmSettings& llm) {
  boost::json::object json{{"providerName", llm.provider_name}, {"modelName", llm.model_name}};
  json["temperature"] = llm.temperature ? boost::json::value(*llm.temperature) : nullptr;
  json["maxTokens"] = llm.max_tokens ? boost::json::value(*llm.max_tokens) : nullptr;
  return json;
}

boost::json::object AssistantJson(const Assistant& assistant) {
  return boost::json::object{
      {"assistantId", assistant.id},
      {"assistantName", assistant.name},
      {"description", assistant.description},
      {"prompt", assistant.prompt},
      {"llmSettings", LlmSettingsJson(assistant.llm)},
      {"revision", assistant.revision},
      {"createdAt", FormatTimestamp(assistant.created_at)},
      {"updatedAt", FormatTimestamp(assistant.updated_at)},
  };
}

boost::json::object ProjectJson(const Project& project) {
  return boost::json::object{
      {"projectId", project.id},
      {"projectName", project.name},
      {"projectDescription", project.description},
      {"projectActive", project.active},
      {"projectStatus", project.StatusCode()},
      {"organizationId", project.organization_id},
      {"organizationName", project.organization_name},
      {"administratorUserEmail", project.admin_email},
      {"searchProfiles", boost::json::array()},
      {"createdAt", FormatTimestamp(project.created_at)},
      {"updatedAt", FormatTimestamp(project.updated_at)},
  };
}

}  // namespace gatehouse
