#ifndef GATEHOUSE_GATEWAY_CHAT_H_
#define GATEHOUSE_GATEWAY_CHAT_H_

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/body_source.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/model.h"
#include "gateway/concurrency_caps.h"
#include "gateway/metering.h"
#include "gateway/providers.h"
#include "gateway/upstream.h"
#include "usage/request_log.h"

namespace gatehouse {

// Who made a call, and when: what the API layer knows before the gateway takes over.
struct CallOrigin {
  std::string organization_id;
  std::string project_id;
  std::string api_token_id;
  std::string api_token_name;
  std::optional<std::string> session_id;  // saia-conversation-id
  TimeMs start_ms = 0;
  const Clock* clock = nullptr;  // required: stamps the call's end
};

enum class CallKind { kChat, kEmbeddings };

// One chat completion (or embeddings) call, resolved and validated by the API layer.
struct ChatCall {
  CallKind kind = CallKind::kChat;
  CallOrigin origin;
  // The client's body (OpenAI Chat Completions or Embeddings). Once the gateway runs the call,
  // its other fields may carry the upstream settings (ApplyUpstreamSettings); its messages and
  // input stay as the client sent them.
  boost::json::object body;
  ResolvedModel model;
  std::string model_name;              // as the client named it, for refused calls
  std::optional<Assistant> assistant;  // set for "saia:assistant:<name>"
  bool stream = false;
  bool log_content = true;
};

// What to answer: an API.md error, or the provider's response (a whole body or a stream).
struct ChatResult {
  std::optional<Error> error;
  int status = 200;
  std::string_view content_type = "application/json";  // static text, as HttpResponse's
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::shared_ptr<AsyncBodySource> stream;
};

// The metering gateway: runs calls through an UpstreamClient without blocking, maps provider
// failures to API.md errors and appends exactly one request record per call (when streamed,
// once the stream ends, breaks or the client leaves). Failures: timeout (first byte, between
// reads, or the whole call) → 504 id 100; unreachable provider, 5xx, a body that is not an
// OpenAI response, a stream answered with another type than text/event-stream, or 401/403 from
// the provider → 502 id 502; 429 from the provider → 429 id 9002 with Retry-After; another 4xx
// → the provider's status in the error envelope with its message (never its key). `client` and
// `log` must outlive the gateway and every call it runs.
class Gateway {
 public:
  Gateway(UpstreamClient& client, RequestLog& log);
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // A last check of a call that passed the concurrency caps, before it starts (the usage
  // limits, which count an admitted call): its error refuses the call, recorded as failed.
  using Admission = std::function<Status(const ChatCall&)>;

  // Starts `call` on the calling event loop; `done` runs there exactly once with the answer
  // (possibly before Run returns). The returned function cancels the call (the client left;
  // recorded as 499); it may be called at any time, also after `done`. `admit`, when given,
  // runs only for a call the caps let through, so that a call they refuse counts nothing.
  std::function<void()> Run(ChatCall call, std::function<void(ChatResult)> done,
                            const Admission& admit = {});

  // Records a call refused before it reached a provider (bad input, unknown assistant, caps).
  void LogRefused(const ChatCall& call, int http_status);

 private:
  UpstreamClient& client_;
  RequestLog& log_;
  ConcurrencyCaps caps_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_CHAT_H_
