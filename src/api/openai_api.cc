#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "api/gateway_calls.h"
#include "api/request_input.h"
#include "api/routes.h"

namespace gatehouse {
namespace {

// GET /v1/models: what the calling project token can call (API.md §3, §8): its allowedModels
// and allowedAssistants filter the list.
Result<boost::json::value> ListModels(ApiServices& services, const ApiCall& call) {
  const CompiledPermissions* permissions = call.caller.token->permissions.get();
  boost::json::array data;
  for (const auto& provider : services.providers.providers()) {
    for (const auto& model : provider.models) {
      std::string id = provider.name + "/" + model.name;
      if (permissions && !permissions->AllowsModel(id)) continue;
      data.push_back(boost::json::object{
          {"id", std::move(id)}, {"object", "model"}, {"created", 0}, {"owned_by", provider.name}});
    }
  }
  if (permissions && permissions->allows_no_assistant()) {
    return boost::json::object{{"object", "list"}, {"data", std::move(data)}};
  }
  auto assistants = services.assistants.List(call.caller.project_id());
  if (!assistants) return std::unexpected(assistants.error());
  for (const auto& assistant : *assistants) {
    if (permissions && !permissions->AllowsAssistant(assistant.name)) continue;
    // Only what can be called: an assistant without a configured model cannot run.
    if (!services.providers.Resolve(assistant.llm.provider_name, assistant.llm.model_name)) {
      continue;
    }
    data.push_back(boost::json::object{{"id", "saia:assistant:" + assistant.name},
                                       {"object", "model"},
                                       {"created", 0},
                                       {"owned_by", "assistant"}});
  }
  return boost::json::object{{"object", "list"}, {"data", std::move(data)}};
}

// POST /v1/embeddings: relayed and metered like chat, module "embeddings".
void Embeddings(ApiServices& services, const ApiCall& api, HttpResponse& response) {
  const HttpRequest& request = api.request;
  ChatCall call;
  call.kind = CallKind::kEmbeddings;
  call.log_content = services.log_content;
  call.origin = OriginOf(api.caller, services.clock);
  auto body = ParseJsonBody(request);
  Status prepared = ReadSession(request, call.origin);
  if (prepared && !body) prepared = std::unexpected(body.error());
  if (prepared) {
    call.body = std::move(*body);
    SpellEmbeddingsKeys(call.body);
    // Every problem is reported; the model is taken for the record even when the call is refused.
    BodyReader problems(call.body);
    ReadCallModel(call.body, call, problems);
    const auto* input = call.body.if_contains("input");
    if (!input || input->is_null()) {
      problems.Add(ErrorCode::kRequired, "input");
    } else if (!input->is_string() && !input->is_array()) {
      problems.Add(ErrorCode::kPattern, "input");
    }
    prepared = problems.Finish();
    if (prepared) {
      const CompiledPermissions* permissions = api.caller.token->permissions.get();
      if (permissions && !permissions->AllowsModel(call.model_name)) {
        prepared = Fail(ErrorCode::kModelNotAllowed);
      } else if (auto resolved = services.providers.Resolve(call.model_name)) {
        call.model = *resolved;
      } else {
        prepared = Fail(ErrorCode::kPattern, "model");
      }
    }
  }
  if (!prepared) {
    services.gateway.LogRefused(call, HttpStatusOf(prepared.error().code()));
    return WriteError(response, prepared.error());
  }
  RunOnGateway(services, std::move(call), response);
}

boost::json::object ModelJson(const ModelPrice& model) {
  return boost::json::object{{"name", model.name},
                             {"inputUsdPerMtok", model.input_usd_per_mtok},
                             {"outputUsdPerMtok", model.output_usd_per_mtok}};
}

boost::json::object ModelsJson(const ProviderConfig& provider) {
  boost::json::array models;
  for (const auto& model : provider.models) models.push_back(ModelJson(model));
  return boost::json::object{{"models", std::move(models)}};
}

// The provider named in the path, as an entry of GET /v2/llm/providers; 404 id 404 otherwise.
Result<const ProviderConfig*> ProviderOf(ApiServices& services, const PathParams& params) {
  const ProviderConfig* provider = services.providers.Find(params.at(0));
  if (!provider) return Fail(ErrorCode::kBadEndpoint, {}, "no provider " + params.at(0));
  return provider;
}

Result<boost::json::value> GetProvider(ApiServices& services, const ApiCall& call) {
  auto provider = ProviderOf(services, call.params);
  if (!provider) return std::unexpected(provider.error());
  boost::json::object json{{"name", (*provider)->name},
                           {"baseUrl", (*provider)->base_url},
                           {"timeoutMs", (*provider)->timeout_ms}};
  json["models"] = std::move(ModelsJson(**provider)["models"]);
  return json;
}

Result<boost::json::value> GetProviderModels(ApiServices& services, const ApiCall& call) {
  auto provider = ProviderOf(services, call.params);
  if (!provider) return std::unexpected(provider.error());
  return ModelsJson(**provider);
}

Result<boost::json::value> GetProviderModel(ApiServices& services, const ApiCall& call) {
  auto provider = ProviderOf(services, call.params);
  if (!provider) return std::unexpected(provider.error());
  for (const auto& model : (*provider)->models) {
    if (model.name == call.params.at(1)) return ModelJson(model);
  }
  return Fail(ErrorCode::kBadEndpoint, {}, "no model " + call.params.at(1));
}

}  // namespace

void AddOpenAiRoutes(RouteTable& routes) {
  routes.AddJson("GET", "/v1/models", Access::kProject, ListModels);
  routes.Add("POST", "/v1/embeddings", Access::kProject, Embeddings, SessionUse::kAllowed,
             Work::kInMemory, [](ApiServices& services, const ApiCall& api, const Error& error) {
               RecordRefusedCall(services, api, error, CallKind::kEmbeddings);
             });
  routes.AddJson("GET", "/v2/llm/providers/{name}", Access::kAnyToken, GetProvider,
                 SessionUse::kAllowed, Work::kInMemory);
  routes.AddJson("GET", "/v2/llm/providers/{name}/models", Access::kAnyToken, GetProviderModels,
                 SessionUse::kAllowed, Work::kInMemory);
  routes.AddJson("GET", "/v2/llm/providers/{name}/models/{model}", Access::kAnyToken,
                 GetProviderModel, SessionUse::kAllowed, Work::kInMemory);
}

}  // namespace gatehouse
