#ifndef GATEHOUSE_GATEWAY_CHAT_BODY_H_
#define GATEHOUSE_GATEWAY_CHAT_BODY_H_

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "gateway/chat.h"

// What the gateway reads from a call's body (the texts a record keeps, the prompt an estimate
// counts) and what it writes into the body it sends upstream.
namespace gatehouse {

// The upstream request body: the client's body with `model` set to the provider's model name,
// the assistant's prompt first as the system message and its settings applied (its maxTokens
// wins), exactly one of max_tokens / max_completion_tokens (the name the client used; the
// client's max_completion_tokens when it sent both), and usage requested for streams.
std::string BuildUpstreamBody(boost::json::object body, const ChatCall& call);
// The same settings applied to `body` in place.
void ApplyUpstreamSettings(boost::json::object& body, const ChatCall& call);

// The text of the last user message, and of the first system message (string content or the
// text parts of an array content).
std::optional<std::string> LastUserText(const boost::json::object& body);
std::optional<std::string> SystemText(const boost::json::object& body);

// The text of a message's `content`: the string, or the text of its text parts.
std::string ContentText(const boost::json::value& content);

// The prompt tokens estimated for `call`: four characters a token over every message content,
// the assistant's prompt included, or the embeddings input; a content part that is not text
// and a token id of an embeddings input count too.
std::int64_t EstimatedPromptTokens(const ChatCall& call);

// Whether the client asked for a stream's usage event itself (stream_options.include_usage);
// the gateway always asks the provider for it, to meter the call.
bool AskedForUsage(const boost::json::object& body);

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_CHAT_BODY_H_
