#include <boost/json/array.hpp>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"

namespace gatehouse {
namespace {

// Reads llmSettings as a change of the fields it names; nullopt when the body has none.
std::optional<LlmSettingsChange> ReadLlmSettings(BodyReader& reader) {
  const boost::json::object* object = reader.Object("llmSettings");
  if (!object) return std::nullopt;
  BodyReader nested(*object);
  LlmSettingsChange llm;
  llm.provider_name = nested.Text("providerName", kMaxNameLength, false);
  llm.model_name = nested.Text("modelName", kMaxNameLength, false);
  if (nested.Has("temperature")) llm.temperature = nested.Number("temperature", 0, 2);
  if (nested.Has("maxTokens")) llm.max_tokens = nested.Integer("maxTokens", 1, 10000000);
  reader.Merge(nested);
  return llm;
}

// A named provider and model must be configured (API.md §8).
Status CheckModel(const LlmSettings& llm, const ProviderRegistry& providers) {
  if (llm.provider_name.empty() && llm.model_name.empty()) return {};
  if (!providers.Find(llm.provider_name)) return Fail(ErrorCode::kPattern, "providerName");
  if (!llm.model_name.empty() && !providers.Resolve(llm.provider_name, llm.model_name)) {
    return Fail(ErrorCode::kPattern, "modelName");
  }
  return {};
}

Result<boost::json::value> CreateAssistant(ApiServices& services, const ApiCall& call) {
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  BodyReader reader(*body);
  auto name = reader.Text("name", kMaxNameLength, true);
  auto description = reader.Text("description", kMaxDescriptionLength, false);
  auto prompt = reader.Text("prompt", kMaxPromptLength, true);
  auto change = ReadLlmSettings(reader);
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  const LlmSettings llm = change ? change->AppliedTo({}) : LlmSettings{};
  if (auto known = CheckModel(llm, services.providers); !known) {
    return std::unexpected(known.error());
  }
  auto assistant = services.assistants.Create(
      call.caller.organization_id(), call.caller.token->project_id(), std::move(*name),
      description.value_or(""), std::move(*prompt), llm, ActorOf(call));
  if (!assistant) return std::unexpected(assistant.error());
  return AssistantJson(*assistant);
}

Result<boost::json::value> GetAssistant(ApiServices& services, const ApiCall& call) {
  auto assistant = services.assistants.Find(call.caller.token->project_id(), call.params[0]);
  if (!assistant) return std::unexpected(assistant.error());
  return AssistantJson(*assistant);
}

Result<boost::json::value> UpdateAssistant(ApiServices& services, const ApiCall& call) {
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  auto current = services.assistants.Find(call.caller.token->project_id(), call.params[0]);
  if (!current) return std::unexpected(current.error());
  BodyReader reader(*body);
  AssistantChange change;
  if (reader.Has("name")) change.name = reader.Text("name", kMaxNameLength, true);
  change.description = reader.Text("description", kMaxDescriptionLength, false);
  if (reader.Has("prompt")) change.prompt = reader.Text("prompt", kMaxPromptLength, true);
  change.llm = ReadLlmSettings(reader);
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  // The model is checked on the settings that would be stored: the change merged onto the
  // assistant as the update finds it.
  auto assistant = services.assistants.Update(
      call.caller.token->project_id(), current->id, change, ActorOf(call),
      [&services](const LlmSettings& llm) { return CheckModel(llm, services.providers); });
  if (!assistant) return std::unexpected(assistant.error());
  return AssistantJson(*assistant);
}

Result<boost::json::value> DeleteAssistant(ApiServices& services, const ApiCall& call) {
  if (auto deleted = services.assistants.Delete(call.caller.token->project_id(), call.params[0],
                                                ActorOf(call));
      !deleted) {
    return std::unexpected(deleted.error());
  }
  return boost::json::object{{"messages", SuccessMessages("Assistant deleted successfully")}};
}

boost::json::object IntentJson(const Assistant& assistant,
                               const std::vector<AssistantRevision>& revisions,
                               const ProviderRegistry& providers) {
  boost::json::array revision_list;
  for (const auto& revision : revisions) {
    const ProviderConfig* provider = providers.Find(revision.llm.provider_name);
    revision_list.push_back(boost::json::object{
        {"revisionId", revision.revision},
        {"revisionName", std::to_string(revision.revision)},
        {"revisionDescription", ""},
        {"modelId", revision.llm.provider_name + "/" + revision.llm.model_name},
        {"modelName", revision.llm.model_name},
        {"providerName", provider ? provider->name : revision.llm.provider_name},
        {"prompt", revision.prompt},
        {"metadata", boost::json::array()},
        {"timestamp", FormatTimestamp(revision.created_at)},
    });
  }
  return boost::json::object{
      {"assistantIntentId", assistant.id},
      {"assistantIntentName", "default"},
      {"assistantIntentDescription", assistant.description},
      {"assistantIntentDefaultRevision", assistant.revision},
      {"revisions", std::move(revision_list)},
  };
}

// Appends the listing items of `project`'s assistants to `list`, with their project when
// `with_project`.
Status AppendAssistants(ApiServices& services, const Project& project, bool full, bool with_project,
                        boost::json::array& list) {
  auto assistants = services.assistants.List(project.id);
  if (!assistants) return std::unexpected(assistants.error());
  for (const auto& assistant : *assistants) {
    boost::json::object json{{"assistantId", assistant.id}, {"assistantName", assistant.name}};
    if (with_project) {
      json["projectId"] = project.id;
      json["projectName"] = project.name;
    }
    if (full) {
      auto revisions = services.assistants.Revisions(assistant.id);
      if (!revisions) return std::unexpected(revisions.error());
      json["intents"] = boost::json::array{IntentJson(assistant, *revisions, services.providers)};
    }
    list.push_back(std::move(json));
  }
  return {};
}

Result<boost::json::value> ListOrganizationAssistants(ApiServices& services, const ApiCall& call,
                                                      bool full) {
  auto projects = services.projects.List(call.caller.organization_id(), true);
  if (!projects) return std::unexpected(projects.error());
  boost::json::array list;
  for (const auto& project : *projects) {
    if (auto added = AppendAssistants(services, project, full, true, list); !added) {
      return std::unexpected(added.error());
    }
  }
  return boost::json::object{{"assistants", std::move(list)}};
}

Result<boost::json::value> ListAssistants(ApiServices& services, const ApiCall& call) {
  const QueryParams query(call.request.query);
  auto detail = query.Choice("detail", {"summary", "full"}, 0);
  if (!detail) return std::unexpected(detail.error());
  std::string project_id = call.caller.token->project_id();
  if (call.caller.IsOrganization()) {
    project_id = query.Get("projectId").value_or("");
    // Without projectId (the reference SDK sends none): every assistant of the organization,
    // each with its project (API.md §4).
    if (project_id.empty()) return ListOrganizationAssistants(services, call, *detail == 1);
    if (!IsUuid(project_id)) return Fail(ErrorCode::kPattern, "projectId");
  } else if (auto asked = query.Get("projectId");
             asked && !asked->empty() && *asked != project_id) {
    // Malformed is 400 for every caller, as for an organization token (api-decisions).
    if (!IsUuid(*asked)) return Fail(ErrorCode::kPattern, "projectId");
    return Fail(ErrorCode::kOutOfScope, {}, "another project");
  }
  auto project = services.projects.Find(call.caller.organization_id(), project_id);
  if (!project) return std::unexpected(project.error());
  boost::json::array list;
  if (auto added = AppendAssistants(services, *project, *detail == 1, false, list); !added) {
    return std::unexpected(added.error());
  }
  return boost::json::object{
      {"projectId", project->id}, {"projectName", project->name}, {"assistants", std::move(list)}};
}

Result<boost::json::value> ListProviders(ApiServices& services, const ApiCall&) {
  boost::json::array providers;
  for (const auto& provider : services.providers.providers()) {
    boost::json::array models;
    for (const auto& model : provider.models) {
      models.push_back(boost::json::object{{"name", model.name},
                                           {"inputUsdPerMtok", model.input_usd_per_mtok},
                                           {"outputUsdPerMtok", model.output_usd_per_mtok}});
    }
    providers.push_back(boost::json::object{{"name", provider.name},
                                            {"baseUrl", provider.base_url},
                                            {"timeoutMs", provider.timeout_ms},
                                            {"models", std::move(models)}});
  }
  return boost::json::object{{"providers", std::move(providers)}};
}

}  // namespace

void AddAssistantRoutes(RouteTable& routes) {
  constexpr auto kProject = Access::kProject;
  routes.AddJson("POST", "/v1/assistant", kProject, CreateAssistant);
  routes.AddJson("GET", "/v1/assistant/{idOrName}", kProject, GetAssistant);
  routes.AddJson("PUT", "/v1/assistant/{idOrName}", kProject, UpdateAssistant);
  routes.AddJson("DELETE", "/v1/assistant/{idOrName}", kProject, DeleteAssistant);
  routes.AddJson("GET", "/v1/organization/assistants", Access::kAnyToken, ListAssistants);
  routes.AddJson("GET", "/v2/llm/providers", Access::kAnyToken, ListProviders, SessionUse::kAllowed,
                 Work::kInMemory);
}

}  // namespace gatehouse
