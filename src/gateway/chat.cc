#include "gateway/chat.h"

#include <spdlog/spdlog.h>

#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/ids.h"
#include "core/log_budget.h"
#include "core/text.h"
#include "gateway/chat_body.h"
#include "gateway/provider_key.h"
#include "gateway/usage_in_place.h"

namespace gatehouse {
namespace {

// An upstream answer larger than this is a misbehaving provider, not a completion.
constexpr std::size_t kMaxUpstreamBody = 64 << 20;

// A record kept without its prompt, input and output (log_content = false).
void ForgetContent(RequestRecord& record) {
  record.prompt.reset();
  record.input_text.reset();
  record.output.reset();
}

std::string ErrorEnvelope(int id, std::string_view description) {
  boost::json::object item{{"id", id}, {"description", description}};
  return boost::json::serialize(
      boost::json::object{{"errors", boost::json::array{std::move(item)}}});
}

// The record of `call` with everything but the outcome filled in.
RequestRecord RecordOf(const ChatCall& call) {
  RequestRecord record;
  record.id = NewRequestId();
  record.organization_id = call.origin.organization_id;
  record.project_id = call.origin.project_id;
  record.api_token_id = call.origin.api_token_id;
  record.api_token_name = call.origin.api_token_name;
  record.session_id = call.origin.session_id;
  record.start_ms = call.origin.start_ms;
  record.model = call.model.provider ? call.model.QualifiedName() : call.model_name;
  if (call.kind == CallKind::kEmbeddings) {
    record.module = "embeddings";
    if (const auto* input = call.body.if_contains("input"); input && input->is_string()) {
      record.input_text = std::string(input->as_string());
    }
  } else {
    record.input_text = LastUserText(call.body);
    if (call.assistant) {
      record.assistant = call.assistant->name;
      record.intent = "default";
      record.prompt = call.assistant->prompt;
    } else {
      record.prompt = SystemText(call.body);
    }
  }
  if (!call.log_content) ForgetContent(record);
  return record;
}

// Completes the call's record (estimating the counts the provider did not give) and hands it
// to the request log. Returns the counts recorded.
// `completion_estimate`: the completion tokens to record without usage; -1 = estimate them
// from `output`.
TokenUsage LogCall(RequestLog& log, const ChatCall& call, std::optional<TokenUsage> usage,
                   std::string output, std::string_view status, int http_status,
                   std::int64_t completion_estimate = -1) {
  if (!usage) {
    if (completion_estimate < 0) completion_estimate = EstimateTokens(output);
    usage = TokenUsage{EstimatedPromptTokens(call),
                       call.kind == CallKind::kEmbeddings ? 0 : completion_estimate};
  }
  RequestRecord record = RecordOf(call);
  record.prompt_tokens = usage->prompt;
  record.completion_tokens = usage->completion;
  record.total_tokens = usage->prompt + usage->completion;
  record.cost = PriceOf(call.model.price, usage->prompt, usage->completion).total;
  record.status = std::string(status);
  record.http_status = http_status;
  record.end_ms = call.origin.clock->Now();
  if (call.log_content) {
    // As a stream's text is (SseAccumulator): the record keeps at most kMaxRecordedOutput bytes,
    // cut between code points.
    output.resize(Utf8Prefix(output, kMaxRecordedOutput).size());
    record.output = std::move(output);
  }
  log.Append(std::move(record));
  return *usage;
}

// Applies the upstream settings to `call`'s own body (no copy) when that leaves its messages and
// input as the client sent them (what the record reads later), to a copy otherwise.
std::string UpstreamBodyOf(ChatCall& call) {
  if (call.assistant) return BuildUpstreamBody(call.body, call);
  ApplyUpstreamSettings(call.body, call);
  return boost::json::serialize(call.body);
}

UpstreamRequest UpstreamRequestFor(ChatCall& call) {
  const ProviderConfig& provider = *call.model.provider;
  UpstreamRequest request;
  request.provider = &provider;
  request.path = call.kind == CallKind::kEmbeddings ? "/embeddings" : "/chat/completions";
  request.headers.emplace_back("Content-Type", "application/json");
  if (std::string key = ProviderKey(provider); !key.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + key);
  }
  if (call.stream) request.headers.emplace_back("Accept", "text/event-stream");
  request.body = UpstreamBodyOf(call);
  const auto whole = std::chrono::milliseconds(provider.timeout_ms);
  request.total_timeout = whole;
  request.first_byte_timeout = provider.first_byte_timeout_ms > 0
                                   ? std::chrono::milliseconds(provider.first_byte_timeout_ms)
                                   : whole;
  request.read_timeout =
      provider.read_timeout_ms > 0 ? std::chrono::milliseconds(provider.read_timeout_ms) : whole;
  return request;
}

// Provider failures come at request rates while a provider is down: the loops log at most 10 of
// them a second, and say how many they held back.
LogBudget provider_warnings(10);

template <typename... Args>
void WarnAboutProvider(spdlog::format_string_t<Args...> format, Args&&... args) {
  std::uint64_t held = 0;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
  if (!provider_warnings.Take(now.count(), held)) return;
  if (held > 0) {
    spdlog::warn("{} more provider warnings held back (at most {} a second are logged)", held,
                 provider_warnings.per_second());
  }
  spdlog::warn(format, std::forward<Args>(args)...);
}

Error ErrorOf(const UpstreamError& error, const ChatCall& call) {
  WarnAboutProvider("provider {} failed: {}", call.model.provider->name, error.detail);
  return Error(error.failure == UpstreamFailure::kTimeout ? ErrorCode::kProviderTimeout
                                                          : ErrorCode::kBadGateway,
               {}, error.detail);
}

// One call in flight: the exchange with the provider, the metering of its answer and its one
// record. Lives on one event loop; shared by the callbacks that keep it alive.
class CallRun final : public std::enable_shared_from_this<CallRun> {
 public:
  CallRun(RequestLog& log, ChatCall call, std::shared_ptr<ConcurrencyCaps::Slot> slot,
          std::shared_ptr<UpstreamExchange> exchange)
      : log_(log),
        call_(std::move(call)),
        slot_(std::move(slot)),
        exchange_(std::move(exchange)),
        events_(
            call_.model.price, [this] { return EstimatedPromptTokens(call_); },
            AskedForUsage(call_.body),
            [this](std::string_view text) {
              return WithoutKey(text, ProviderKey(*call_.model.provider));
            }) {}

  ~CallRun() {
    if (recorded_) return;
    if (streaming_) RecordLeftStream();
    Record("failed", 499, UsageOfFailure(499));
    log_.FlushJournal();  // no answer follows whose write would journal the record's frame
  }

  void Start(std::function<void(ChatResult)> done) {
    done_ = std::move(done);
    exchange_->Start(UpstreamRequestFor(call_),
                     [self = shared_from_this()](auto head) { self->OnHead(std::move(head)); });
  }

  // The client left: recorded as 499, the provider call ends at once.
  void Cancel() {
    if (cancelled_) return;
    cancelled_ = true;
    if (streaming_) {
      RecordLeftStream();
    } else {
      Record("failed", 499, UsageOfFailure(499));
    }
    log_.FlushJournal();  // as in the destructor
    exchange_->Cancel();
    slot_.reset();
  }

  // The next piece of a relayed stream (AsyncBodySource::Next).
  void NextPiece(AsyncBodySource::Callback done) {
    if (cancelled_) return done(BodyPiece::kBroken, {});
    exchange_->Read([self = shared_from_this(), done = std::move(done)](auto piece) {
      self->OnStreamPiece(std::move(piece), done);
    });
  }

 private:
  void Answer(ChatResult result) {
    if (auto done = std::exchange(done_, nullptr)) done(std::move(result));
  }

  // What a failed call is recorded with. A call that timed out or whose client left after the
  // provider had its request: the estimate of its prompt, which the provider has read and
  // usually bills, and which a cost limit must see (a stream is estimated so too). Any other
  // failure: nothing.
  std::optional<TokenUsage> UsageOfFailure(int http_status) const {
    const bool refused = head_.status != 0 && (head_.status < 200 || head_.status >= 300);
    if ((http_status == 499 || http_status == 504) && exchange_->RequestSent() && !refused) {
      return std::nullopt;
    }
    return TokenUsage{};
  }

  // Records a call that ended without an answer to relay; its provider call is over.
  void Fail(Error error, int http_status) {
    Record("failed", http_status, UsageOfFailure(http_status));
    slot_.reset();
    ChatResult result;
    result.error = std::move(error);
    Answer(std::move(result));
  }

  void Record(std::string_view status, int http_status,
              std::optional<TokenUsage> usage = TokenUsage{}, const std::string& output = {},
              std::int64_t completion_estimate = -1) {
    if (recorded_) return;
    recorded_ = true;
    LogCall(log_, call_, usage, output, status, http_status, completion_estimate);
  }

  // Records the stream's outcome with what the events said.
  void RecordStream(std::string_view status, int http_status) {
    Record(status, http_status, events_.usage(), events_.content(),
           events_.EstimatedCompletionTokens());
  }

  // The client left a stream: 499, unless it had the whole answer ([DONE]) already, as a client
  // that closes on [DONE] does.
  void RecordLeftStream() {
    if (events_.done() || events_.failed()) return RecordStreamEnd();
    RecordStream("failed", 499);
  }

  void OnHead(std::expected<UpstreamHead, UpstreamError> head) {
    if (!head) {
      if (cancelled_) return Fail(Error(ErrorCode::kBadGateway, {}, "client left"), 499);
      Error error = ErrorOf(head.error(), call_);
      const int status = HttpStatusOf(error.code());
      return Fail(std::move(error), status);
    }
    head_ = std::move(*head);
    if (call_.stream && head_.status >= 200 && head_.status < 300) {
      constexpr std::string_view kEventStream = "text/event-stream";  // any case (RFC 9110)
      if (!EqualsIgnoreCase(std::string_view(head_.content_type).substr(0, kEventStream.size()),
                            kEventStream)) {
        exchange_->Cancel();
        return Fail(Error(ErrorCode::kBadGateway, {},
                          "provider " + call_.model.provider->name +
                              " answered a stream request with " + head_.content_type),
                    502);
      }
      streaming_ = true;
      ChatResult result;
      result.content_type = "text/event-stream";
      result.headers.emplace_back("Cache-Control", "no-cache");
      result.stream = std::make_shared<Stream>(shared_from_this());
      return Answer(std::move(result));
    }
    ReadWhole();
  }

  void ReadWhole() {
    exchange_->Read([self = shared_from_this()](auto piece) {
      if (!piece) {
        if (self->cancelled_) {
          return self->Fail(Error(ErrorCode::kBadGateway, {}, "client left"), 499);
        }
        Error error = ErrorOf(piece.error(), self->call_);
        const int status = HttpStatusOf(error.code());
        return self->Fail(std::move(error), status);
      }
      if (self->body_.empty()) {
        self->body_ = std::move(piece->bytes);
      } else {
        self->body_ += piece->bytes;
      }
      if (self->body_.size() > kMaxUpstreamBody) {
        self->exchange_->Cancel();
        return self->Fail(Error(ErrorCode::kBadGateway, {}, "provider answer too large"), 502);
      }
      if (piece->end) {
        self->slot_.reset();  // the provider's call is over
        return self->OnWhole();
      }
      self->ReadWhole();
    });
  }

  void OnWhole() {
    const int status = head_.status;
    const std::string& provider = call_.model.provider->name;
    if (status == 401 || status == 403) {
      WarnAboutProvider("provider {} rejected the gateway's credentials ({})", provider, status);
      return Fail(Error(ErrorCode::kBadGateway, {}, "provider rejected the gateway's credentials"),
                  502);
    }
    if (status == 429) {
      Record("failed", 429);
      ChatResult result;
      result.error = Error(ErrorCode::kRateLimited, {}, "provider " + provider + " answered 429");
      result.headers.emplace_back("Retry-After",
                                  head_.retry_after.empty() ? "1" : head_.retry_after);
      return Answer(std::move(result));
    }
    if (status >= 400 && status < 500) {  // the provider refused the request itself
      Record("failed", status);
      std::string message = WithoutKey(ProviderMessage(body_), ProviderKey(*call_.model.provider));
      if (message.empty()) message = "Provider refused the request";
      ChatResult result;
      result.status = status;
      result.body = ErrorEnvelope(status, message);
      return Answer(std::move(result));
    }
    boost::system::error_code ec;
    // One arena for the whole answer: freed at once when this function returns.
    unsigned char arena[8192];
    boost::json::monotonic_resource memory(arena, sizeof arena);
    auto parsed = boost::json::parse(body_, ec, &memory);
    // An OpenAI answer has its choices (chat) or its data (embeddings); anything else (`{}`, an
    // error object sent with 200) is garbage, not a success to bill.
    const char* const expected = call_.kind == CallKind::kChat ? "choices" : "data";
    const boost::json::value* results =
        ec || !parsed.is_object() ? nullptr : parsed.as_object().if_contains(expected);
    if (status < 200 || status >= 300 || !results || !results->is_array()) {
      const bool success = status >= 200 && status < 300;
      return Fail(Error(ErrorCode::kBadGateway, {},
                        "provider " + provider + " answered " + std::to_string(status) +
                            (ec        ? " with a body that is not JSON"
                             : success ? std::string(" without ") + expected
                                       : std::string())),
                  502);
    }
    boost::json::object& response = parsed.as_object();
    // The record keeps the first choice's text, as a stream's record does; an estimate of the
    // completion counts what every choice generated (`n` > 1), as a provider's count does.
    std::string output;
    std::size_t generated = 0;  // code points of the texts, tool calls, refusals, reasoning
    if (call_.kind == CallKind::kChat) {
      bool first = true;
      for (const auto& choice : results->as_array()) {
        if (!choice.is_object()) continue;
        const auto* message = choice.as_object().if_contains("message");
        if (message && message->is_object()) {
          std::string text;
          if (const auto* content = message->as_object().if_contains("content")) {
            text = ContentText(*content);
          }
          generated += CodePointCount(text) + OtherGeneratedCodePoints(message->as_object());
          if (first) output = std::move(text);
        }
        first = false;
      }
    }
    const auto reported =
        ReadUsage(response, call_.kind == CallKind::kEmbeddings ? UsageShape::kPromptOnly
                                                                : UsageShape::kChat);
    const auto completion_estimate = static_cast<std::int64_t>((generated + 3) / 4);
    recorded_ = true;
    const TokenUsage usage =
        LogCall(log_, call_, reported, std::move(output), "succeeded", 200, completion_estimate);
    ChatResult result;
    result.body = AnswerBody(response, reported.has_value(), usage);
    Answer(std::move(result));
  }

  // What the client gets of a provider's answer (`response`, parsed from body_), its usage
  // extended with the costs where prices are configured (API.md §8; zeros would tell of a free
  // call). When the provider's usage holds the counts recorded (`reported`) and no cost field of
  // its own, that is the provider's own text with the costs appended to its usage object;
  // otherwise the answer is written again with the counts recorded.
  std::string AnswerBody(boost::json::object& response, bool reported, const TokenUsage& usage) {
    const ModelPrice* price = call_.model.price;
    if (reported && !price) return std::move(body_);
    const ChatCost cost = PriceOf(price, usage.prompt, usage.completion);
    if (reported && !HasCostFields(response.at("usage").as_object()) &&
        AppendCostsToUsage(body_, cost)) {
      return std::move(body_);
    }
    boost::json::value& usage_value = response["usage"];
    if (!usage_value.is_object()) usage_value.emplace_object();
    boost::json::object& usage_json = usage_value.as_object();
    if (!reported) {
      usage_json["prompt_tokens"] = usage.prompt;
      if (call_.kind == CallKind::kChat) {
        usage_json["completion_tokens"] = usage.completion;
      } else {
        usage_json.erase("completion_tokens");  // an embedding has none; a bad one goes
      }
      usage_json["total_tokens"] = usage.prompt + usage.completion;
    }
    if (price) AddCosts(usage_json, cost);
    return boost::json::serialize(response);
  }

  void OnStreamPiece(std::expected<UpstreamBodyPiece, UpstreamError> piece,
                     const AsyncBodySource::Callback& relay) {
    // The last piece relayed: the provider's call is over (its body ended or broke, or it was
    // cancelled), and its concurrency slot goes.
    auto done = [this, &relay](BodyPiece kind, std::string chunk) {
      if (kind != BodyPiece::kMore) slot_.reset();
      relay(kind, std::move(chunk));
    };
    if (!piece) {
      // An unfinished last line was cut mid-event: relayed, it would be an event no client can
      // parse, so it is dropped; the error event after it, on its own, tells why the stream ends.
      // Abandon dispatches an event whose blank line the break took: [DONE] or an error event
      // may come only then.
      std::string chunk = events_.Abandon();
      if ((events_.done() || events_.failed()) && !cancelled_) {
        // After [DONE] the answer is whole, and after an error event the provider has said why
        // it ends: what it does with the rest of its body (its last chunk, its close) changes
        // nothing for the client or the record.
        RecordStreamEnd();
        return done(BodyPiece::kLast, std::move(chunk));
      }
      if (cancelled_) return done(BodyPiece::kBroken, std::move(chunk));
      return done(BodyPiece::kLast, chunk + Broken(piece.error()));
    }
    std::string chunk = events_.Feed(piece->bytes);
    if (piece->end) chunk += events_.Finish(/*cut=*/piece->ended_by_close);
    if (events_.overflowed()) {
      // An event no chat stream sends (over SseAccumulator::kMaxHeldEvent; Finish's line break
      // may be what takes it over) could be neither metered nor redacted: it was dropped, and
      // the call ends as a broken stream; after [DONE] the answer was whole, and it ends there.
      exchange_->Cancel();
      chunk += events_.Abandon();
      if (events_.done()) {
        RecordStreamEnd();
        return done(BodyPiece::kLast, std::move(chunk));
      }
      return done(BodyPiece::kLast,
                  chunk + Broken({UpstreamFailure::kProtocol, "an event longer than 1 MiB"}));
    }
    // [DONE] makes the answer whole (a client may stop reading there): the call is recorded
    // before the piece that carries it is relayed, so that its journal frame is written before
    // those bytes leave, and a kill -9 while the provider's body has yet to end loses nothing
    // the client has. What the provider sends after [DONE] is relayed, not metered.
    if (events_.done()) RecordStreamEnd();
    if (!piece->end) return done(BodyPiece::kMore, std::move(chunk));
    if (piece->ended_by_close && !events_.done() && !events_.failed()) {
      // The provider's close ended the body before [DONE]: a provider that died mid-answer
      // ends it so too, and nothing tells the two apart, so it is not taken for complete.
      return done(BodyPiece::kLast,
                  chunk + Broken({UpstreamFailure::kProtocol, "closed before [DONE]"}));
    }
    // A stream that ended after an error event is not made to look complete.
    if (!events_.done() && !events_.failed()) chunk += "data: [DONE]\n\n";
    RecordStreamEnd();
    done(BodyPiece::kLast, std::move(chunk));
  }

  // Records a stream that broke and returns the error event that ends it: no [DONE], so that
  // no client takes a broken answer for a complete one.
  std::string Broken(const UpstreamError& error) {
    WarnAboutProvider("provider {} stream broke: {}", call_.model.provider->name, error.detail);
    const bool timeout = error.failure == UpstreamFailure::kTimeout;
    RecordStream("failed", timeout ? 504 : 502);
    return timeout ? "data: {\"error\":{\"message\":\"Provider Request Timeout\",\"code\":504}}\n\n"
                   : "data: {\"error\":{\"message\":\"Bad Gateway\",\"code\":502}}\n\n";
  }

  // Records a stream whose answer ended, at [DONE] or at an error event (failed 502), once. A
  // stream recorded at [DONE] keeps its concurrency slot until the provider's body ends, as the
  // provider still counts the call until then.
  void RecordStreamEnd() {
    if (recorded_) return;
    if (events_.failed()) {
      WarnAboutProvider("provider {} sent an error event in its stream",
                        call_.model.provider->name);
      RecordStream("failed", 502);
    } else {
      RecordStream("succeeded", 200);
    }
  }

  // The relayed stream the transport pulls from.
  class Stream final : public AsyncBodySource {
   public:
    explicit Stream(std::shared_ptr<CallRun> run) : run_(std::move(run)) {}
    ~Stream() override { run_->Cancel(); }
    void Next(Callback done) override { run_->NextPiece(std::move(done)); }
    void Abort() override { run_->Cancel(); }

   private:
    std::shared_ptr<CallRun> run_;
  };

  RequestLog& log_;
  ChatCall call_;
  std::shared_ptr<ConcurrencyCaps::Slot> slot_;  // held until the provider's call is over
  std::shared_ptr<UpstreamExchange> exchange_;
  std::function<void(ChatResult)> done_;
  UpstreamHead head_;
  std::string body_;
  SseAccumulator events_;
  bool recorded_ = false;
  bool cancelled_ = false;
  bool streaming_ = false;
};

}  // namespace

Gateway::Gateway(UpstreamClient& client, RequestLog& log) : client_(client), log_(log) {}

std::function<void()> Gateway::Run(ChatCall call, std::function<void(ChatResult)> done,
                                   const Admission& admit) {
  auto slot = caps_.Acquire(*call.model.provider, call.origin.api_token_id);
  if (!slot) {
    LogRefused(call, 429);
    ChatResult result;
    result.error = Error(ErrorCode::kRateLimited, {},
                         "concurrency cap of provider " + call.model.provider->name);
    result.headers.emplace_back("Retry-After", "1");
    done(std::move(result));
    return [] {};
  }
  if (admit) {
    if (Status admitted = admit(call); !admitted) {
      slot.reset();
      LogRefused(call, HttpStatusOf(admitted.error().code()));
      ChatResult result;
      result.error = std::move(admitted.error());
      done(std::move(result));
      return [] {};
    }
  }
  auto run = std::make_shared<CallRun>(log_, std::move(call), std::move(slot), client_.Open());
  run->Start(std::move(done));
  return [weak = std::weak_ptr<CallRun>(run)] {
    if (auto run = weak.lock()) run->Cancel();
  };
}

void Gateway::LogRefused(const ChatCall& call, int http_status) {
  RequestRecord record = RecordOf(call);
  record.status = "failed";
  record.http_status = http_status;
  record.end_ms = call.origin.clock->Now();
  log_.Append(std::move(record));
}

}  // namespace gatehouse
