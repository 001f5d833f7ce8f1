#include "gateway/chat.h"

#include <spdlog/spdlog.h>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>

#include "http/upstream_client.h"

namespace gatehouse {
namespace {

constexpr std::size_t kMaxEventLine = 1 << 20;

std::string ContentText(const boost::json::value& content) {
  if (content.is_string()) return std::string(content.as_string());
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content.as_array()) {
      if (!part.is_object()) continue;
      const auto* value = part.as_object().if_contains("text");
      if (value && value->is_string()) text += value->as_string();
    }
  }
  return text;
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

std::int64_t PromptChars(const boost::json::object& body) {
  std::string all;
  if (const auto* messages = body.if_contains("messages"); messages && messages->is_array()) {
    for (const auto& message : messages->as_array()) {
      if (!message.is_object()) continue;
      if (const auto* content = message.as_object().if_contains("content")) {
        all += ContentText(*content);
      }
    }
  }
  return EstimateTokens(all);
}

std::optional<TokenUsage> ReadUsage(const boost::json::object& response) {
  const auto* usage = response.if_contains("usage");
  if (!usage || !usage->is_object()) return std::nullopt;
  auto number = [&](const char* key) -> std::int64_t {
    const auto* value = usage->as_object().if_contains(key);
    if (!value) return 0;
    if (value->is_int64()) return value->as_int64();
    if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
    if (value->is_double()) return static_cast<std::int64_t>(value->as_double());
    return 0;
  };
  return TokenUsage{number("prompt_tokens"), number("completion_tokens")};
}

// A record kept without its prompt, input and output (log_content = false).
void ForgetContent(RequestRecord& record) {
  record.prompt.reset();
  record.input_text.reset();
  record.output.reset();
}

// The cost fields that extend an OpenAI `usage` object.
void AddCosts(boost::json::object& usage, const ChatCost& cost) {
  usage["prompt_cost"] = cost.prompt;
  usage["completion_cost"] = cost.completion;
  usage["total_cost"] = cost.total;
  usage["currency"] = "USD";
}

// Completes the call's record (estimating the counts the provider did not give) and hands it
// to the request log. Returns the counts recorded.
TokenUsage LogCall(RequestLog& log, ChatCall& call, std::optional<TokenUsage> usage,
                   const std::string& output, std::string_view status, int http_status) {
  if (!usage) usage = TokenUsage{PromptChars(call.body), EstimateTokens(output)};
  RequestRecord& record = call.record;
  record.prompt_tokens = usage->prompt;
  record.completion_tokens = usage->completion;
  record.total_tokens = usage->prompt + usage->completion;
  record.cost = PriceOf(call.model.price, usage->prompt, usage->completion).total;
  record.status = std::string(status);
  record.http_status = http_status;
  record.end_ms = call.clock->Now();
  record.output = output;
  if (!call.log_content) ForgetContent(record);
  log.Append(std::move(record));
  return *usage;
}

Error ProviderError(const UpstreamCall& upstream, const ResolvedModel& model) {
  const bool timeout = upstream.failure() == UpstreamFailure::kTimeout;
  spdlog::warn("provider {} failed: {}", model.provider->name, upstream.failure_detail());
  return Error(timeout ? ErrorCode::kProviderTimeout : ErrorCode::kBadGateway, {},
               upstream.failure_detail());
}

UpstreamRequest UpstreamRequestFor(const ChatCall& call) {
  UpstreamRequest request;
  std::string base = call.model.provider->base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  request.url = base + "/chat/completions";
  request.headers.emplace_back("Content-Type", "application/json");
  // The key is read from the environment for each call, so that it is never copied into
  // configuration objects, records or logs.
  if (const std::string& name = call.model.provider->api_key_env; !name.empty()) {
    if (const char* key = std::getenv(name.c_str()); key && *key) {
      request.headers.emplace_back("Authorization", std::string("Bearer ") + key);
    }
  }
  request.body = BuildUpstreamBody(call.body, call);
  request.timeout = std::chrono::milliseconds(call.model.provider->timeout_ms);
  return request;
}

// Relays a provider's event stream to the client while metering it. Appends the call's one
// record when the stream ends, fails, or the client leaves (at the latest on destruction).
class MeteredEventStream final : public BodySource {
 public:
  MeteredEventStream(std::unique_ptr<UpstreamCall> upstream, ChatCall call, RequestLog& log)
      : upstream_(std::move(upstream)),
        call_(std::move(call)),
        log_(log),
        events_(call_.model.price) {}

  ~MeteredEventStream() override {
    if (!logged_) Finish("failed", 499);
  }

  Piece Next(std::string& chunk) override {
    std::string bytes;
    const bool more = upstream_->Read(bytes);
    chunk = events_.Feed(bytes);
    if (more) return Piece::kMore;
    chunk += events_.Finish();
    if (upstream_->failure()) {
      // No [DONE]: a client must not take a broken answer for a complete one.
      spdlog::warn("provider {} stream broke: {}", call_.model.provider->name,
                   upstream_->failure_detail());
      chunk += "data: {\"error\":{\"message\":\"Bad Gateway\",\"code\":502}}\n\n";
      Finish("failed", 502);
      return Piece::kLast;
    }
    Finish("succeeded", 200);
    if (!events_.done()) chunk += "data: [DONE]\n\n";
    return Piece::kLast;
  }

  void Abort() override { Finish("failed", 499); }

 private:
  void Finish(std::string_view status, int http_status) {
    if (logged_) return;
    logged_ = true;
    LogCall(log_, call_, events_.usage(), events_.content(), status, http_status);
  }

  std::unique_ptr<UpstreamCall> upstream_;
  ChatCall call_;
  RequestLog& log_;
  SseAccumulator events_;
  bool logged_ = false;
};

}  // namespace

std::optional<std::string> LastUserText(const boost::json::object& body) {
  return MessageText(body, "user", true);
}

std::optional<std::string> SystemText(const boost::json::object& body) {
  return MessageText(body, "system", false);
}

std::string BuildUpstreamBody(boost::json::object body, const ChatCall& call) {
  body["model"] = call.model.model;
  if (call.assistant) {
    boost::json::array messages;
    messages.push_back(
        boost::json::object{{"role", "system"}, {"content", call.assistant->prompt}});
    if (const auto* given = body.if_contains("messages"); given && given->is_array()) {
      for (const auto& message : given->as_array()) messages.push_back(message);
    }
    body["messages"] = std::move(messages);
    if (call.assistant->llm.temperature) body["temperature"] = *call.assistant->llm.temperature;
    if (call.assistant->llm.max_tokens) body["max_tokens"] = *call.assistant->llm.max_tokens;
  }
  if (call.stream) {
    body["stream"] = true;
    body["stream_options"] = boost::json::object{{"include_usage", true}};
  }
  return boost::json::serialize(body);
}

std::string SseAccumulator::Feed(std::string_view bytes) {
  pending_ += bytes;
  std::string relay;
  std::size_t start = 0;
  for (std::size_t end; (end = pending_.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string_view line(pending_.data() + start, end - start);
    const bool crlf = !line.empty() && line.back() == '\r';
    if (crlf) line.remove_suffix(1);
    relay += Line(line);
    relay += crlf ? "\r\n" : "\n";
  }
  pending_.erase(0, start);
  // A line this long is not an event worth metering: relay it as it is, keep memory bounded.
  if (pending_.size() > kMaxEventLine) relay += TakeRest();
  return relay;
}

std::string SseAccumulator::Finish() {
  if (pending_.empty()) return {};
  return Feed("\n") + "\n";
}

std::string SseAccumulator::Line(std::string_view line) {
  std::string_view data = line;
  if (!data.starts_with("data:")) return std::string(line);
  data.remove_prefix(5);
  while (!data.empty() && data.front() == ' ') data.remove_prefix(1);
  if (data == "[DONE]") {
    done_ = true;
    return std::string(line);
  }
  boost::system::error_code ec;
  auto event = boost::json::parse(data, ec);
  if (ec || !event.is_object()) return std::string(line);
  boost::json::object& object = event.as_object();
  if (const auto* choices = object.if_contains("choices"); choices && choices->is_array()) {
    for (const auto& choice : choices->as_array()) {
      if (!choice.is_object()) continue;
      const auto* delta = choice.as_object().if_contains("delta");
      if (!delta || !delta->is_object()) continue;
      const auto* content = delta->as_object().if_contains("content");
      if (content && content->is_string()) content_ += content->as_string();
    }
  }
  auto usage = ReadUsage(object);
  if (!usage) return std::string(line);
  usage_ = usage;
  AddCosts(object["usage"].as_object(), PriceOf(price_, usage->prompt, usage->completion));
  return "data: " + boost::json::serialize(event);
}

void LogRefusedCall(RequestLog& log, const Clock& clock, RequestRecord record, int http_status,
                    bool log_content) {
  record.status = "failed";
  record.http_status = http_status;
  record.end_ms = clock.Now();
  if (!log_content) ForgetContent(record);
  log.Append(std::move(record));
}

ChatResult RunChat(ChatCall call, RequestLog& log) {
  ChatResult result;
  auto upstream = std::make_unique<UpstreamCall>();
  const bool started = upstream->Start(UpstreamRequestFor(call));
  std::string body;
  // A stream is relayed only once the provider has accepted it; anything else is read whole.
  const bool relay = started && call.stream && upstream->status() == 200;
  if (started && !relay) upstream->ReadAll(body);
  if (!started || upstream->failure()) {
    result.error = ProviderError(*upstream, call.model);
    LogCall(log, call, TokenUsage{}, {}, "failed", HttpStatusOf(result.error->code()));
    return result;
  }
  if (relay) {
    result.content_type = "text/event-stream";
    result.stream = std::make_shared<MeteredEventStream>(std::move(upstream), std::move(call), log);
    return result;
  }

  const int status = upstream->status();
  boost::system::error_code ec;
  auto parsed = boost::json::parse(body, ec);
  if (status >= 500 || ec || !parsed.is_object()) {
    result.error = Error(ErrorCode::kBadGateway, {},
                         "provider " + call.model.provider->name + " answered " +
                             std::to_string(status) + (ec ? " with a body that is not JSON" : ""));
    LogCall(log, call, TokenUsage{}, {}, "failed", 502);
    return result;
  }
  boost::json::object& response = parsed.as_object();
  if (status != 200) {  // the provider refused the request (4xx): relay its answer
    result.status = status;
    result.body = std::move(body);
    LogCall(log, call, TokenUsage{}, {}, "failed", status);
    return result;
  }

  std::string output;
  if (const auto* choices = response.if_contains("choices"); choices && choices->is_array()) {
    for (const auto& choice : choices->as_array()) {
      if (!choice.is_object()) continue;
      const auto* message = choice.as_object().if_contains("message");
      if (message && message->is_object()) {
        if (const auto* content = message->as_object().if_contains("content")) {
          output += ContentText(*content);
        }
      }
      break;
    }
  }
  const auto reported = ReadUsage(response);
  const TokenUsage usage = LogCall(log, call, reported, output, "succeeded", 200);
  boost::json::value& usage_value = response["usage"];
  if (!usage_value.is_object()) usage_value.emplace_object();
  boost::json::object& usage_json = usage_value.as_object();
  if (!reported) {
    usage_json["prompt_tokens"] = usage.prompt;
    usage_json["completion_tokens"] = usage.completion;
    usage_json["total_tokens"] = usage.prompt + usage.completion;
  }
  AddCosts(usage_json, PriceOf(call.model.price, usage.prompt, usage.completion));
  result.body = boost::json::serialize(response);
  return result;
}

}  // namespace gatehouse
