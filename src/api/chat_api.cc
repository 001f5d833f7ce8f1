#include <algorithm>

#include "api/gateway_calls.h"
#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"
#include "gateway/chat.h"

namespace gatehouse {
namespace {

constexpr std::string_view kAssistantPrefix = "saia:assistant:";

bool IsMessage(const boost::json::value& message) {
  if (!message.is_object()) return false;
  const auto* role = message.as_object().if_contains("role");
  return role && role->is_string();
}

// The body rules of a chat call that Gatehouse checks itself, so that a malformed body is never
// sent upstream: `stream` is a boolean, every `messages` item an object with a string `role`.
// Every problem is reported; the model is taken for the record even when the call is refused.
Status CheckChatBody(const boost::json::object& body, ChatCall& call) {
  BodyReader problems(body);
  ReadCallModel(body, call, problems);
  const auto* messages = body.if_contains("messages");
  if (!messages || messages->is_null() || (messages->is_array() && messages->as_array().empty())) {
    problems.Add(ErrorCode::kRequired, "messages");
  } else if (!messages->is_array() || !std::ranges::all_of(messages->as_array(), IsMessage)) {
    problems.Add(ErrorCode::kPattern, "messages");
  }
  if (const auto* stream = body.if_contains("stream"); stream && !stream->is_null()) {
    if (stream->is_bool()) {
      call.stream = stream->as_bool();
    } else {
      problems.Add(ErrorCode::kPattern, "stream");
    }
  }
  if (const auto* thread = body.if_contains("threadId"); thread && !thread->is_null()) {
    // It lands in exports as the session: text, and short.
    if (!thread->is_string() || thread->as_string().size() > kMaxNameLength * 4) {
      problems.Add(ErrorCode::kPattern, "threadId");
    }
  }
  return problems.Finish();
}

// The reference platform's SDK sends two fields of its own in the body: "threadId" (the
// conversation) and "variables" (for an assistant's prompt). Neither is OpenAI's, and providers
// refuse fields they do not know, so both are taken out; the thread (a string, as CheckChatBody
// requires) becomes the record's session when no saia-conversation-id header named one.
void TakePlatformFields(ChatCall& call) {
  if (const auto* thread = call.body.if_contains("threadId");
      thread && thread->is_string() && thread->as_string().size() <= kMaxNameLength * 4) {
    if (!call.origin.session_id && !thread->as_string().empty()) {
      call.origin.session_id = std::string(thread->as_string());
    }
  }
  call.body.erase("threadId");
  call.body.erase("variables");
}

// Resolves the model of a checked body (CheckChatBody). Errors are what the client gets.
Status Prepare(ApiServices& services, const Principal& caller, const boost::json::object& body,
               ChatCall& call) {
  const std::string_view name(body.at("model").as_string());
  std::optional<ResolvedModel> resolved;
  const CompiledPermissions* permissions = caller.token->permissions.get();
  if (name.starts_with(kAssistantPrefix)) {
    const std::string_view assistant_name = name.substr(kAssistantPrefix.size());
    // Checked from memory before any lookup: a refusal says nothing about what exists.
    if (permissions && !permissions->AllowsAssistant(assistant_name)) {
      return Fail(ErrorCode::kAssistantNotAllowed);
    }
    auto assistant =
        services.assistants.Lookup(caller.token->project_id(), std::string(assistant_name));
    if (!assistant) return std::unexpected(assistant.error());
    resolved = services.providers.Resolve(assistant->llm.provider_name, assistant->llm.model_name);
    call.assistant = std::move(*assistant);
  } else {
    if (permissions && !permissions->AllowsModel(name)) return Fail(ErrorCode::kModelNotAllowed);
    resolved = services.providers.Resolve(name);
  }
  if (!resolved) return Fail(ErrorCode::kPattern, "model");
  call.model = *resolved;
  return {};
}

void Chat(ApiServices& services, const ApiCall& api, HttpResponse& response) {
  const Principal* caller = &api.caller;
  const HttpRequest& request = api.request;

  ChatCall call;
  call.log_content = services.log_content;
  call.origin = OriginOf(*caller, services.clock);
  const Status session = ReadSession(request, call.origin);

  auto body = ParseJsonBody(request);
  if (body) {
    call.body = std::move(*body);
    SpellChatKeys(call.body);
  }
  Status prepared = !session ? session
                    : !body  ? Status(std::unexpected(body.error()))
                             : CheckChatBody(call.body, call);
  // The thread names the session of a refused call too (unless the header did).
  if (body) TakePlatformFields(call);
  if (prepared) prepared = Prepare(services, *caller, call.body, call);
  if (!prepared) {
    services.gateway.LogRefused(call, HttpStatusOf(prepared.error().code()));
    return WriteError(response, prepared.error());
  }
  RunOnGateway(services, std::move(call), response);
}

}  // namespace

void SpellChatKeys(boost::json::object& body) {
  SpellKeys(body, {"model", "messages", "stream", "stream_options", "max_tokens",
                   "max_completion_tokens", "temperature", "threadId", "variables"});
  if (auto* options = body.if_contains("stream_options"); options && options->is_object()) {
    SpellKeys(options->as_object(), {"include_usage"});
  }
  auto* messages = body.if_contains("messages");
  if (!messages || !messages->is_array()) return;
  for (auto& message : messages->as_array()) {
    if (!message.is_object()) continue;
    SpellKeys(message.as_object(), {"role", "content"});
    auto* content = message.as_object().if_contains("content");
    if (!content || !content->is_array()) continue;
    for (auto& part : content->as_array()) {
      if (part.is_object()) SpellKeys(part.as_object(), {"type", "text", "refusal"});
    }
  }
}

void SpellEmbeddingsKeys(boost::json::object& body) { SpellKeys(body, {"model", "input"}); }

void ReadCallModel(const boost::json::object& body, ChatCall& call, BodyReader& problems) {
  const auto* model = body.if_contains("model");
  if (!model || model->is_null()) {
    problems.Add(ErrorCode::kRequired, "model");
  } else if (!model->is_string()) {
    problems.Add(ErrorCode::kPattern, "model");
  } else {
    call.model_name = std::string(model->as_string());
  }
}

CallOrigin OriginOf(const Principal& caller, const Clock& clock) {
  CallOrigin origin;
  origin.organization_id = caller.organization_id();
  origin.project_id = caller.token->project_id();
  origin.api_token_id = caller.token->id();
  origin.api_token_name = caller.token->name();
  origin.start_ms = clock.Now();
  origin.clock = &clock;
  return origin;
}

Status ReadSession(const HttpRequest& request, CallOrigin& origin) {
  // The conversation id lands in exports: it must be text, and short.
  const std::string_view session = request.Header("saia-conversation-id");
  if (session.size() > kMaxNameLength * 4 || !IsValidUtf8(session)) {
    return Fail(ErrorCode::kPattern, "saia-conversation-id");
  }
  if (!session.empty()) origin.session_id = std::string(session);
  return {};
}

void RecordRefusedCall(ApiServices& services, const ApiCall& api, const Error& error,
                       CallKind kind) {
  ChatCall call;
  call.kind = kind;
  call.log_content = services.log_content;
  call.origin = OriginOf(api.caller, services.clock);
  if (!ReadSession(api.request, call.origin)) call.origin.session_id.reset();
  if (auto body = ParseJsonBody(api.request)) {
    call.body = std::move(*body);
    if (kind == CallKind::kChat) {
      SpellChatKeys(call.body);
    } else {
      SpellEmbeddingsKeys(call.body);
    }
    if (const auto* model = call.body.if_contains("model"); model && model->is_string()) {
      call.model_name = std::string(model->as_string());
    }
    // The platform SDK's thread names the refused call's session too (unless the header did);
    // a malformed one is simply not used, since the call is refused for another reason already.
    if (kind == CallKind::kChat) TakePlatformFields(call);
  }
  services.gateway.LogRefused(call, HttpStatusOf(error.code()));
}

void RunOnGateway(ApiServices& services, ChatCall call, HttpResponse& response) {
  auto cancel = std::make_shared<std::function<void()>>();
  response.cancel = [cancel] {
    if (*cancel) (*cancel)();
  };
  response.async = [&services, cancel, call = std::move(call)](HttpResponse& response,
                                                               std::function<void()> done) mutable {
    // Usage limits (API.md §7): checked once the caps let the call through (a call they
    // refuse counts nothing), before the provider is contacted; a refusal is recorded as failed.
    const Gateway::Admission admit = [&services](const ChatCall& call) {
      return services.usage_limits.Admit(call.origin.organization_id, call.origin.project_id);
    };
    *cancel = services.gateway.Run(
        std::move(call),
        [&response, done = std::move(done)](ChatResult result) {
          if (result.error) {
            WriteError(response, *result.error);
          } else {
            response.status = result.status;
            response.content_type = result.content_type;
            response.body = std::move(result.body);
            response.async_body = std::move(result.stream);
          }
          for (auto& header : result.headers) response.headers.push_back(std::move(header));
          done();
        },
        admit);
  };
}

void AddChatRoutes(RouteTable& routes) {
  for (const char* path : {"/chat", "/chat/completions", "/v1/chat/completions"}) {
    routes.Add("POST", path, Access::kProject, Chat, SessionUse::kAllowed, Work::kInMemory,
               [](ApiServices& services, const ApiCall& api, const Error& error) {
                 RecordRefusedCall(services, api, error, CallKind::kChat);
               });
  }
}

}  // namespace gatehouse
