#include "gateway/chat_body.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <string_view>

#include "core/text.h"

namespace gatehouse {
namespace {

// The text of a content part: its `text` (text, input_text and output_text parts) or its
// `refusal` (an assistant's refusal part); null for a part that is not text (an image, audio).
const boost::json::string* PartText(const boost::json::object& part) {
  for (const char* key : {"text", "refusal"}) {
    if (const auto* value = part.if_contains(key); value && value->is_string()) {
      return &value->as_string();
    }
  }
  return nullptr;
}

std::optional<std::string> MessageText(const boost::json::object& body, std::string_view role,
                                       bool last) {
  const auto* messages = body.if_contains("messages");
  if (!messages || !messages->is_array()) return std::nullopt;
  std::optional<std::string> found;
  for (const auto& message : messages->as_array()) {
    if (!message.is_object()) continue;
    const auto* message_role = message.as_object().if_contains("role");
    const auto* content = message.as_object().if_contains("content");
    if (!message_role || !message_role->is_string() || message_role->as_string() != role ||
        !content) {
      continue;
    }
    found = ContentText(*content);
    if (!last) break;
  }
  return found;
}

// A content part that is not text (an image, audio, a file) counts this many prompt tokens in
// an estimate: an image's price at low detail at OpenAI, and a floor for the others, so that a
// call without text is never estimated free.
constexpr std::int64_t kTokensPerOtherPart = 85;

// What an estimate counts besides text: the parts that are not text, and the token ids of an
// embeddings input given as tokens (one token each).
std::int64_t OtherTokens(const boost::json::value& value) {
  if (value.is_int64() || value.is_uint64()) return 1;
  if (!value.is_array()) return 0;
  std::int64_t tokens = 0;
  for (const auto& item : value.as_array()) {
    if (item.is_object()) {
      if (!PartText(item.as_object())) tokens += kTokensPerOtherPart;
    } else if (!item.is_string()) {
      tokens += OtherTokens(item);
    }
  }
  return tokens;
}

}  // namespace

std::string ContentText(const boost::json::value& content) {
  if (content.is_string()) return std::string(content.as_string());
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content.as_array()) {
      if (!part.is_object()) continue;
      if (const auto* part_text = PartText(part.as_object())) text += *part_text;
    }
  }
  return text;
}

std::int64_t EstimatedPromptTokens(const ChatCall& call) {
  const boost::json::object& body = call.body;
  std::string all;
  std::int64_t other = 0;
  if (call.assistant && call.kind == CallKind::kChat) all += call.assistant->prompt;
  if (const auto* input = body.if_contains("input")) {  // embeddings
    if (input->is_string()) all += input->as_string();
    if (input->is_array()) {
      for (const auto& item : input->as_array()) {
        if (item.is_string()) all += item.as_string();
      }
    }
    other += OtherTokens(*input);
  }
  if (const auto* messages = body.if_contains("messages"); messages && messages->is_array()) {
    for (const auto& message : messages->as_array()) {
      if (!message.is_object()) continue;
      if (const auto* content = message.as_object().if_contains("content")) {
        all += ContentText(*content);
        other += OtherTokens(*content);
      }
    }
  }
  return EstimateTokens(all) + other;
}

bool AskedForUsage(const boost::json::object& body) {
  const auto* options = body.if_contains("stream_options");
  if (!options || !options->is_object()) return false;
  const auto* include = options->as_object().if_contains("include_usage");
  return include && include->is_bool() && include->as_bool();
}

std::optional<std::string> LastUserText(const boost::json::object& body) {
  return MessageText(body, "user", true);
}

std::optional<std::string> SystemText(const boost::json::object& body) {
  return MessageText(body, "system", false);
}

std::string BuildUpstreamBody(boost::json::object body, const ChatCall& call) {
  ApplyUpstreamSettings(body, call);
  return boost::json::serialize(body);
}

void ApplyUpstreamSettings(boost::json::object& body, const ChatCall& call) {
  body["model"] = call.model.model;
  if (call.kind == CallKind::kEmbeddings) return;
  if (call.assistant) {
    boost::json::array messages;
    messages.push_back(
        boost::json::object{{"role", "system"}, {"content", call.assistant->prompt}});
    if (const auto* given = body.if_contains("messages"); given && given->is_array()) {
      for (const auto& message : given->as_array()) messages.push_back(message);
    }
    body["messages"] = std::move(messages);
    if (call.assistant->llm.temperature) body["temperature"] = *call.assistant->llm.temperature;
  }
  // One setting under two names: exactly one goes upstream (OpenAI refuses both).
  std::optional<boost::json::value> max_tokens;
  const char* name = "max_tokens";
  if (const auto* value = body.if_contains("max_tokens"); value && !value->is_null()) {
    max_tokens = *value;
  }
  if (const auto* value = body.if_contains("max_completion_tokens"); value && !value->is_null()) {
    max_tokens = *value;
    name = "max_completion_tokens";
  }
  if (call.assistant && call.assistant->llm.max_tokens)
    max_tokens = *call.assistant->llm.max_tokens;
  body.erase("max_tokens");
  body.erase("max_completion_tokens");
  if (max_tokens) body[name] = std::move(*max_tokens);
  if (call.stream) {
    body["stream"] = true;
    // The client's other stream options go along.
    boost::json::value& options = body["stream_options"];
    if (!options.is_object()) options.emplace_object();
    options.as_object()["include_usage"] = true;
  }
}

}  // namespace gatehouse
