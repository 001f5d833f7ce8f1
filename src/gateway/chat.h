#ifndef GATEHOUSE_GATEWAY_CHAT_H_
#define GATEHOUSE_GATEWAY_CHAT_H_

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/body_source.h"
#include "core/error.h"
#include "core/model.h"
#include "gateway/providers.h"
#include "usage/request_log.h"

namespace gatehouse {

// One chat completion call, resolved and validated by the API layer.
struct ChatCall {
  boost::json::object body;  // the client's body (OpenAI Chat Completions)
  ResolvedModel model;
  std::optional<Assistant> assistant;  // set for "saia:assistant:<name>"
  bool stream = false;
  bool log_content = true;
  const Clock* clock = nullptr;  // required; stamps the record's end
  // Identity, start time, session, assistant and content fields already filled.
  RequestRecord record;
};

// What to answer: an API.md error, or the provider's response (a whole body or a stream).
struct ChatResult {
  std::optional<Error> error;
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::shared_ptr<BodySource> stream;
};

// Runs `call` against its provider on the calling thread (it blocks on the network) and
// appends exactly one record for it to `log` — when the answer is streamed, once the stream
// ends or the client goes away. Provider failures: timeout → 504 id 100, an unreachable
// provider, a 5xx or a body that is not an OpenAI response → 502 id 502; a 4xx is relayed.
ChatResult RunChat(ChatCall call, RequestLog& log);

// Records a call refused before it reached a provider (bad input, unknown assistant).
void LogRefusedCall(RequestLog& log, const Clock& clock, RequestRecord record, int http_status,
                    bool log_content);

// The upstream request body: the client's body with `model` set to the provider's model name,
// the assistant's prompt first as the system message and its settings applied, and usage
// requested for streams.
std::string BuildUpstreamBody(boost::json::object body, const ChatCall& call);

// The text of the last user message, and of the first system message (string content or the
// text parts of an array content).
std::optional<std::string> LastUserText(const boost::json::object& body);
std::optional<std::string> SystemText(const boost::json::object& body);

struct TokenUsage {
  std::int64_t prompt = 0;
  std::int64_t completion = 0;
};

// Meters the server-sent events of a streamed completion as they pass through: collects the
// answer text and the final chunk's usage, and extends that usage with prompt_cost,
// completion_cost, total_cost and currency at `price` (as a whole answer's usage is). Relays
// whole lines only; every other line goes through byte for byte.
class SseAccumulator {
 public:
  explicit SseAccumulator(const ModelPrice* price = nullptr) : price_(price) {}

  // Takes bytes from the provider; returns the bytes ready to relay.
  std::string Feed(std::string_view bytes);
  // The unfinished last line, relayed as it is (used for over-long lines).
  std::string TakeRest() { return std::exchange(pending_, {}); }
  // At the end of the stream: meters and relays a last line that had no line break, ending its
  // event, so that anything appended after it stands on its own line.
  std::string Finish();

  const std::string& content() const { return content_; }
  const std::optional<TokenUsage>& usage() const { return usage_; }
  bool done() const { return done_; }

 private:
  // Meters one line; returns it, rewritten when it carried usage.
  std::string Line(std::string_view line);

  const ModelPrice* price_;
  std::string pending_;
  std::string content_;
  std::optional<TokenUsage> usage_;
  bool done_ = false;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_CHAT_H_
