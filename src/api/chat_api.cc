#include "api/request_input.h"
#include "api/routes.h"
#include "core/ids.h"
#include "core/text.h"
#include "gateway/chat.h"

namespace gatehouse {
namespace {

constexpr std::string_view kAssistantPrefix = "saia:assistant:";

// Validates the body and resolves the model. Errors are what the client gets.
Status Prepare(ApiServices& services, const Principal& caller, const boost::json::object& body,
               ChatCall& call) {
  const auto* model = body.if_contains("model");
  const auto* messages = body.if_contains("messages");
  if (!model || model->is_null()) return Fail(ErrorCode::kRequired, "model");
  if (!model->is_string()) return Fail(ErrorCode::kPattern, "model");
  if (!messages || messages->is_null() || (messages->is_array() && messages->as_array().empty())) {
    return Fail(ErrorCode::kRequired, "messages");
  }
  if (!messages->is_array()) return Fail(ErrorCode::kPattern, "messages");
  if (const auto* stream = body.if_contains("stream"); stream && stream->is_bool()) {
    call.stream = stream->as_bool();
  }

  const std::string_view name(model->as_string());
  std::optional<ResolvedModel> resolved;
  if (name.starts_with(kAssistantPrefix)) {
    auto assistant = services.assistants.Find(caller.token->project_id,
                                              std::string(name.substr(kAssistantPrefix.size())));
    if (!assistant) return std::unexpected(assistant.error());
    resolved = services.providers.Resolve(assistant->llm.provider_name, assistant->llm.model_name);
    call.record.assistant = assistant->name;
    call.record.intent = "default";
    call.record.prompt = assistant->prompt;
    call.assistant = std::move(*assistant);
  } else {
    resolved = services.providers.Resolve(name);
    call.record.prompt = SystemText(body);
  }
  if (!resolved) return Fail(ErrorCode::kPattern, "model");
  call.model = *resolved;
  call.record.model = resolved->QualifiedName();
  return {};
}

void Chat(ApiServices& services, const ApiCall& api, HttpResponse& response) {
  const Principal* caller = &api.caller;
  const HttpRequest& request = api.request;

  ChatCall call;
  call.log_content = services.log_content;
  call.clock = &services.clock;
  RequestRecord& record = call.record;
  record.id = NewUuid();
  record.organization_id = caller->organization_id();
  record.project_id = caller->token->project_id;
  record.api_token_id = caller->token->id;
  record.api_token_name = caller->token->name;
  record.start_ms = services.clock.Now();
  // The conversation id lands in exports: it must be text, and short.
  const std::string_view session = request.Header("saia-conversation-id");
  const bool session_ok = session.size() <= kMaxNameLength * 4 && IsValidUtf8(session);
  if (session_ok && !session.empty()) record.session_id = std::string(session);

  auto body = ParseJsonBody(request);
  Status prepared = !session_ok ? Status(Fail(ErrorCode::kPattern, "saia-conversation-id"))
                    : body      ? Prepare(services, *caller, *body, call)
                                : Status(std::unexpected(body.error()));
  if (!prepared) {
    LogRefusedCall(services.request_log, services.clock, std::move(record),
                   HttpStatusOf(prepared.error().code()), call.log_content);
    return WriteError(response, prepared.error());
  }
  // Usage limits (API.md §7): refused before the provider is contacted, recorded as failed.
  if (auto admitted = services.usage_limits.Admit(record.organization_id, record.project_id);
      !admitted) {
    LogRefusedCall(services.request_log, services.clock, std::move(record),
                   HttpStatusOf(admitted.error().code()), call.log_content);
    return WriteError(response, admitted.error());
  }
  record.input_text = LastUserText(*body);
  call.body = std::move(*body);

  response.deferred = [&services, call = std::move(call)](HttpResponse& response) mutable {
    ChatResult result = RunChat(std::move(call), services.request_log);
    if (result.error) return WriteError(response, *result.error);
    response.status = result.status;
    response.content_type = result.content_type;
    response.body = std::move(result.body);
    response.body_source = std::move(result.stream);
    if (response.body_source) response.headers.emplace_back("Cache-Control", "no-cache");
  };
}

}  // namespace

void AddChatRoutes(RouteTable& routes) {
  for (const char* path : {"/chat", "/chat/completions", "/v1/chat/completions"}) {
    routes.Add("POST", path, Access::kProject, Chat);
  }
}

}  // namespace gatehouse
