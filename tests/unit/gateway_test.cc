// The gateway's failure mapping, metering and records, driven through the upstream seam with a
// test double: no socket, no event loop (the double answers at once).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/ids.h"
#include "core/text.h"
#include "gateway/chat.h"
#include "store/sqlite/sqlite_store.h"
#include "usage/request_journal.h"

namespace gatehouse {
namespace {

using HeadResult = std::expected<UpstreamHead, UpstreamError>;
using PieceResult = std::expected<UpstreamBodyPiece, UpstreamError>;

// Answers with a scripted head and body pieces; remembers what it was sent.
class ScriptedExchange final : public UpstreamExchange {
 public:
  HeadResult head = UpstreamHead{200, "application/json", ""};
  std::deque<PieceResult> pieces;
  bool hold_head = false;  // keep the head callback until Cancel()
  UpstreamRequest sent;
  bool cancelled = false;

  void Start(UpstreamRequest request, HeadCallback done) override {
    sent = std::move(request);
    if (hold_head) {
      held_ = std::move(done);
      return;
    }
    done(head);
  }
  void Read(BodyCallback done) override {
    if (cancelled) return done(std::unexpected(UpstreamError{UpstreamFailure::kCancelled, ""}));
    if (pieces.empty()) return done(UpstreamBodyPiece{{}, true});
    auto piece = std::move(pieces.front());
    pieces.pop_front();
    done(std::move(piece));
  }
  void Cancel() override {
    cancelled = true;
    if (auto held = std::exchange(held_, nullptr)) {
      held(std::unexpected(UpstreamError{UpstreamFailure::kCancelled, "cancelled"}));
    }
  }

 private:
  HeadCallback held_;
};

class ScriptedClient final : public UpstreamClient {
 public:
  std::shared_ptr<ScriptedExchange> next = std::make_shared<ScriptedExchange>();
  int opened = 0;
  std::shared_ptr<UpstreamExchange> Open() override {
    ++opened;
    return next;
  }
};

UpstreamBodyPiece Whole(std::string body) { return UpstreamBodyPiece{std::move(body), true}; }

constexpr char kKeyEnv[] = "GATEHOUSE_UNIT_GATEWAY_KEY";
constexpr char kKey[] = "sk-unit-0123456789abcdefghijklmnop";

class GatewayTest : public ::testing::Test {
 protected:
  GatewayTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("gatehouse-gateway-" + std::to_string(::getpid()) + NewUuid())),
        store_((std::filesystem::create_directories(dir_), dir_ / "gatehouse.db").string()),
        log_(store_),
        gateway_(client_, log_) {
    ::setenv(kKeyEnv, kKey, 1);
    provider_.name = "p";
    provider_.base_url = "http://127.0.0.1:9/v1";
    provider_.api_key_env = kKeyEnv;
    provider_.timeout_ms = 1000;
    provider_.models = {{"m", 1.0, 2.0}};
  }
  ~GatewayTest() override {
    log_.Stop();
    std::filesystem::remove_all(dir_);
  }

  ChatCall Call(bool stream = false) {
    ChatCall call;
    call.origin.organization_id = "org";
    call.origin.project_id = "project";
    call.origin.api_token_id = "token";
    call.origin.api_token_name = "Default";
    call.origin.start_ms = clock_.Now();
    call.origin.clock = &clock_;
    call.body = boost::json::parse(
                    R"({"model":"p/m","messages":[{"role":"user","content":"hello there"}]})")
                    .as_object();
    call.model = ResolvedModel{&provider_, &provider_.models[0], "m"};
    call.model_name = "p/m";
    call.stream = stream;
    return call;
  }

  ChatResult Run(ChatCall call) {
    std::optional<ChatResult> result;
    gateway_.Run(std::move(call), [&](ChatResult answer) { result = std::move(answer); });
    EXPECT_TRUE(result) << "the double answers at once, so the gateway must have answered";
    return result ? std::move(*result) : ChatResult{};
  }

  // Pulls a relayed stream to its end; returns the bytes the client would get.
  std::string Drain(AsyncBodySource& source) {
    std::string all;
    for (auto piece = BodyPiece::kMore; piece == BodyPiece::kMore;) {
      bool called = false;
      source.Next([&](BodyPiece next, std::string chunk) {
        piece = next;
        all += chunk;
        called = true;
      });
      EXPECT_TRUE(called);
      if (!called) break;
    }
    return all;
  }

  std::vector<RequestRecord> Records() {
    log_.Stop();
    std::vector<RequestRecord> records;
    auto cursor = store_.OpenRequestCursor(RequestQuery{.organization_id = "org"});
    EXPECT_TRUE(cursor);
    RequestRecord record;
    while (*(*cursor)->Next(record)) records.push_back(record);
    return records;
  }

  RequestRecord OnlyRecord() {
    auto records = Records();
    EXPECT_EQ(records.size(), 1u);
    return records.empty() ? RequestRecord{} : records.front();
  }

  std::shared_ptr<ScriptedExchange> exchange() { return client_.next; }

  ManualClock clock_{1'700'000'000'000};
  std::filesystem::path dir_;
  SqliteStore store_;
  RequestLog log_;
  ScriptedClient client_;
  Gateway gateway_;
  ProviderConfig provider_;
};

void ExpectError(const ChatResult& result, ErrorCode code) {
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code(), code);
}

TEST_F(GatewayTest, TimeoutBeforeTheFirstByteIs504Id100AndRecordedFailed504) {
  exchange()->head = std::unexpected(UpstreamError{UpstreamFailure::kTimeout, "slow"});
  const ChatResult result = Run(Call());
  ExpectError(result, ErrorCode::kProviderTimeout);
  EXPECT_EQ(HttpStatusOf(result.error->code()), 504);
  EXPECT_EQ(ErrorIdOf(result.error->code()), 100);
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.status, "failed");
  EXPECT_EQ(record.http_status, 504);
}

TEST_F(GatewayTest, TimeoutWhileReadingTheBodyIs504Id100) {
  exchange()->pieces.push_back(std::unexpected(UpstreamError{UpstreamFailure::kTimeout, "t"}));
  ExpectError(Run(Call()), ErrorCode::kProviderTimeout);
  EXPECT_EQ(OnlyRecord().http_status, 504);
}

TEST_F(GatewayTest, UnreachableProviderIs502Id502) {
  exchange()->head = std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "refused"});
  const ChatResult result = Run(Call());
  ExpectError(result, ErrorCode::kBadGateway);
  EXPECT_EQ(ErrorIdOf(result.error->code()), 502);
  EXPECT_EQ(OnlyRecord().http_status, 502);
}

TEST_F(GatewayTest, Provider5xxIs502Id502) {
  exchange()->head = UpstreamHead{503, "application/json", ""};
  exchange()->pieces.push_back(Whole(R"({"error":{"message":"overloaded"}})"));
  ExpectError(Run(Call()), ErrorCode::kBadGateway);
  EXPECT_EQ(OnlyRecord().http_status, 502);
}

TEST_F(GatewayTest, ProviderGarbageIs502Id502) {
  exchange()->pieces.push_back(Whole("<html>not json"));
  ExpectError(Run(Call()), ErrorCode::kBadGateway);
  EXPECT_EQ(OnlyRecord().status, "failed");
}

TEST_F(GatewayTest, Provider401And403AreBadGatewayWithoutTheProvidersMessage) {
  for (int status : {401, 403}) {
    client_.next = std::make_shared<ScriptedExchange>();
    exchange()->head = UpstreamHead{status, "application/json", ""};
    exchange()->pieces.push_back(
        Whole(std::string(R"({"error":{"message":"Incorrect API key provided: )") + kKey + "\"}}"));
    const ChatResult result = Run(Call());
    ExpectError(result, ErrorCode::kBadGateway);
    // What the client reads and what the log reads: neither has the provider's text.
    ASSERT_EQ(result.error->items.size(), 1u);
    EXPECT_EQ(DescriptionOf(result.error->items[0]), "Bad Gateway");
    EXPECT_NE(result.error->internal.find("rejected the gateway's credentials"), std::string::npos)
        << result.error->internal;
    EXPECT_EQ(result.error->internal.find("Incorrect API key"), std::string::npos)
        << result.error->internal;
    EXPECT_EQ(result.error->internal.find(std::string(kKey).substr(3, 8)), std::string::npos);
  }
  for (const auto& record : Records()) {
    EXPECT_EQ(record.http_status, 502);
    EXPECT_EQ(record.output.value_or("").find(std::string(kKey).substr(3, 8)), std::string::npos);
  }
}

TEST_F(GatewayTest, Provider429Is429Id9002WithTheProvidersRetryAfter) {
  exchange()->head = UpstreamHead{429, "application/json", "7"};
  exchange()->pieces.push_back(Whole(R"({"error":{"message":"slow down"}})"));
  const ChatResult result = Run(Call());
  ExpectError(result, ErrorCode::kRateLimited);
  ASSERT_EQ(result.headers.size(), 1u);
  EXPECT_EQ(result.headers[0], std::make_pair(std::string("Retry-After"), std::string("7")));
  EXPECT_EQ(OnlyRecord().http_status, 429);
}

TEST_F(GatewayTest, Provider4xxIsWrappedInTheEnvelopeKeepingItsMessageButNeverTheKey) {
  exchange()->head = UpstreamHead{400, "application/json", ""};
  exchange()->pieces.push_back(
      Whole(std::string(R"({"error":{"message":"max_tokens is too large for key )") +
            std::string(kKey).substr(3, 12) + "\"}}"));
  const ChatResult result = Run(Call());
  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.status, 400);
  const auto body = boost::json::parse(result.body);
  const auto& item = body.at("errors").as_array().at(0);
  EXPECT_EQ(item.at("id").as_int64(), 400);
  const std::string description(item.at("description").as_string());
  EXPECT_TRUE(description.starts_with("max_tokens is too large")) << description;
  EXPECT_EQ(description.find(std::string(kKey).substr(3, 8)), std::string::npos) << description;
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.status, "failed");
  EXPECT_EQ(record.http_status, 400);
}

TEST_F(GatewayTest, AStreamAnsweredWithAnotherTypeThanEventStreamIs502AndRecordedFailed) {
  exchange()->head = UpstreamHead{200, "application/json", ""};
  exchange()->pieces.push_back(Whole(R"({"choices":[]})"));
  const ChatResult result = Run(Call(true));
  ExpectError(result, ErrorCode::kBadGateway);
  EXPECT_FALSE(result.stream);
  EXPECT_TRUE(exchange()->cancelled);
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.status, "failed");
  EXPECT_EQ(record.http_status, 502);
}

TEST_F(GatewayTest, NegativeOrAbsurdUsageIsRefusedAndTokensAreEstimated) {
  for (const char* usage : {R"({"prompt_tokens":-5,"completion_tokens":3})",
                            R"({"prompt_tokens":5,"completion_tokens":1000000000000})",
                            R"({"prompt_tokens":"5","completion_tokens":3})"}) {
    client_.next = std::make_shared<ScriptedExchange>();
    exchange()->pieces.push_back(Whole(
        std::string(
            R"({"choices":[{"message":{"role":"assistant","content":"12345678"}}],"usage":)") +
        usage + "}"));
    const ChatResult result = Run(Call());
    ASSERT_FALSE(result.error) << usage;
    const auto body = boost::json::parse(result.body);
    EXPECT_EQ(body.at("usage").at("prompt_tokens").as_int64(), EstimateTokens("hello there"));
    EXPECT_EQ(body.at("usage").at("completion_tokens").as_int64(), 2);
  }
  for (const auto& record : Records()) {
    EXPECT_EQ(record.prompt_tokens, EstimateTokens("hello there"));
    EXPECT_EQ(record.completion_tokens, 2);
    EXPECT_EQ(record.status, "succeeded");
  }
}

TEST_F(GatewayTest, ATimeoutBetweenChunksEndsTheStreamWithAnErrorEventAndNoDone) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(
      UpstreamBodyPiece{"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n", false});
  exchange()->pieces.push_back(std::unexpected(UpstreamError{UpstreamFailure::kTimeout, "t"}));
  const ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  const std::string relayed = Drain(*result.stream);
  EXPECT_NE(relayed.find("\"code\":504"), std::string::npos) << relayed;
  EXPECT_EQ(relayed.find("[DONE]"), std::string::npos) << relayed;
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.status, "failed");
  EXPECT_EQ(record.http_status, 504);
  EXPECT_EQ(record.output.value_or(""), "Hi");
}

TEST_F(GatewayTest, ABrokenStreamEndsWithAnErrorEventAndIsRecorded502) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "cut"}));
  const ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  const std::string relayed = Drain(*result.stream);
  EXPECT_NE(relayed.find("\"code\":502"), std::string::npos);
  EXPECT_EQ(OnlyRecord().http_status, 502);
}

TEST_F(GatewayTest, ACompleteStreamIsRelayedMeteredAndEndsWithDone) {
  // Media types are case-insensitive.
  exchange()->head = UpstreamHead{200, "Text/Event-Stream; charset=utf-8", ""};
  exchange()->pieces.push_back(
      UpstreamBodyPiece{"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n", false});
  exchange()->pieces.push_back(UpstreamBodyPiece{
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\n", true});
  const ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  EXPECT_EQ(result.content_type, "text/event-stream");
  const std::string relayed = Drain(*result.stream);
  EXPECT_TRUE(relayed.ends_with("data: [DONE]\n\n"));
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.status, "succeeded");
  EXPECT_EQ(record.prompt_tokens, 9);
  EXPECT_EQ(record.completion_tokens, 4);
  EXPECT_DOUBLE_EQ(record.cost, (9 * 1.0 + 4 * 2.0) / 1e6);
}

TEST_F(GatewayTest, AClientThatLeavesCancelsTheUpstreamCallAndIsRecorded499Once) {
  exchange()->hold_head = true;
  std::optional<ChatResult> result;
  auto cancel = gateway_.Run(Call(), [&](ChatResult answer) { result = std::move(answer); });
  EXPECT_FALSE(result);
  cancel();
  EXPECT_TRUE(exchange()->cancelled);
  EXPECT_TRUE(result) << "the completion still runs after a cancel";
  cancel();
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.status, "failed");
  EXPECT_EQ(record.http_status, 499);
}

TEST_F(GatewayTest, AClientThatLeavesMidStreamIsRecorded499) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(UpstreamBodyPiece{"data: {}\n\n", false});
  ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  result.stream->Next([](BodyPiece, std::string) {});
  result.stream->Abort();
  EXPECT_TRUE(exchange()->cancelled);
  result.stream.reset();
  EXPECT_EQ(OnlyRecord().http_status, 499);
}

// An event loop defers its records' journal frames to its next write to a client: a call
// whose client left is recorded 499 with no such write after it, so its frame is written at
// once (else a crash during a store outage would lose the record).
TEST_F(GatewayTest, TheRecordOfACallWhoseClientLeftIsJournaledAtOnce) {
  const std::filesystem::path journal_dir = dir_ / "journal";
  std::filesystem::create_directories(journal_dir);
  RequestLog log(store_, RequestLogOptions{.max_delay = std::chrono::hours(1)});
  ASSERT_TRUE(log.OpenJournal(journal_dir.string()));
  Gateway gateway(client_, log);
  auto journaled = [&journal_dir] {
    std::string bytes;
    for (const auto& entry : std::filesystem::directory_iterator(journal_dir)) {
      std::ifstream file(entry.path(), std::ios::binary);
      bytes.append(std::istreambuf_iterator<char>(file), {});
    }
    return DecodeJournalFrames(bytes);
  };
  std::thread loop([&] {
    log.DeferJournalOnThisThread();
    exchange()->hold_head = true;
    auto cancel = gateway.Run(Call(), [](ChatResult) {});
    EXPECT_TRUE(journaled().empty());
    cancel();
    const auto frames = journaled();
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].http_status, 499);
  });
  loop.join();
  log.Stop();
}

TEST_F(GatewayTest, CallsBeyondTheProvidersConcurrencyCapAre429Id9002AndRecorded) {
  provider_.max_concurrent = 1;
  exchange()->hold_head = true;
  std::optional<ChatResult> first;
  auto cancel = gateway_.Run(Call(), [&](ChatResult answer) { first = std::move(answer); });
  const ChatResult second = Run(Call());
  ExpectError(second, ErrorCode::kRateLimited);
  EXPECT_EQ(ErrorIdOf(second.error->code()), 9002);
  ASSERT_FALSE(second.headers.empty());
  EXPECT_EQ(second.headers[0].first, "Retry-After");
  EXPECT_EQ(client_.opened, 1) << "a refused call never reaches the provider";
  cancel();
  // The slot is free again once the first call has ended.
  client_.next = std::make_shared<ScriptedExchange>();
  exchange()->pieces.push_back(Whole(R"({"choices":[]})"));
  EXPECT_FALSE(Run(Call()).error);
}

// API.md §7: "A refused call counts nothing". The usage limits count a call when they admit
// it, so they are asked only once the caps have let it through; a call they refuse frees its
// place under the caps at once.
TEST_F(GatewayTest, ACallTheCapsRefuseIsNeverAdmittedAndOneRefusedAtAdmissionFreesItsSlot) {
  provider_.max_concurrent = 1;
  exchange()->hold_head = true;
  int asked = 0;
  bool refuse = false;
  const Gateway::Admission admit = [&](const ChatCall&) -> Status {
    ++asked;
    if (refuse) return Fail(ErrorCode::kQuotaExceeded, {}, "usage limit reached");
    return {};
  };
  auto cancel = gateway_.Run(
      Call(), [](ChatResult) {}, admit);
  EXPECT_EQ(asked, 1);
  std::optional<ChatResult> capped;
  gateway_.Run(
      Call(), [&](ChatResult answer) { capped = std::move(answer); }, admit);
  ASSERT_TRUE(capped);
  ExpectError(*capped, ErrorCode::kRateLimited);
  EXPECT_EQ(asked, 1) << "a call the caps refuse is not counted against the usage limits";
  cancel();

  refuse = true;
  std::optional<ChatResult> refused;
  gateway_.Run(
      Call(), [&](ChatResult answer) { refused = std::move(answer); }, admit);
  ASSERT_TRUE(refused);
  ExpectError(*refused, ErrorCode::kQuotaExceeded);
  EXPECT_EQ(client_.opened, 1) << "a refused call never reaches the provider";

  refuse = false;
  client_.next = std::make_shared<ScriptedExchange>();
  exchange()->pieces.push_back(Whole(R"({"choices":[]})"));
  std::optional<ChatResult> next;
  gateway_.Run(
      Call(), [&](ChatResult answer) { next = std::move(answer); }, admit);
  ASSERT_TRUE(next);
  EXPECT_FALSE(next->error) << "the refused call left its slot free";
  std::multiset<int> statuses;
  for (const RequestRecord& record : Records()) statuses.insert(record.http_status);
  EXPECT_EQ(statuses, (std::multiset<int>{200, 429, 429, 499}))
      << "one record each: the cancelled call, the two refused, the last";
}

TEST_F(GatewayTest, CallsBeyondThePerTokenCapAre429ButOtherTokensPass) {
  provider_.max_concurrent_per_token = 1;
  exchange()->hold_head = true;
  auto cancel = gateway_.Run(Call(), [](ChatResult) {});
  ExpectError(Run(Call()), ErrorCode::kRateLimited);
  ChatCall other = Call();
  other.origin.api_token_id = "other-token";
  std::optional<ChatResult> answered;
  auto cancel_other =
      gateway_.Run(std::move(other), [&](ChatResult r) { answered = std::move(r); });
  EXPECT_EQ(client_.opened, 2);
  cancel();
  cancel_other();
}

TEST_F(GatewayTest, EmbeddingsAreRelayedToTheEmbeddingsPathAndMeteredAsPromptTokensOnly) {
  exchange()->pieces.push_back(Whole(
      R"({"object":"list","data":[{"embedding":[0.1,0.2]}],"usage":{"prompt_tokens":12,"total_tokens":12}})"));
  ChatCall call = Call();
  call.kind = CallKind::kEmbeddings;
  call.body = boost::json::parse(R"({"model":"p/m","input":"embed me"})").as_object();
  const ChatResult result = Run(std::move(call));
  ASSERT_FALSE(result.error);
  EXPECT_EQ(exchange()->sent.path, "/embeddings");
  EXPECT_EQ(boost::json::parse(exchange()->sent.body).at("model").as_string(), "m");
  const auto body = boost::json::parse(result.body);
  EXPECT_DOUBLE_EQ(body.at("usage").at("total_cost").as_double(), 12 * 1.0 / 1e6);
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.module, "embeddings");
  EXPECT_EQ(record.prompt_tokens, 12);
  EXPECT_EQ(record.completion_tokens, 0);
  EXPECT_EQ(record.input_text.value_or(""), "embed me");
}

TEST_F(GatewayTest, TheProviderKeyGoesUpstreamAsBearerWithTheTimeoutsOfTheProvider) {
  provider_.first_byte_timeout_ms = 300;
  exchange()->pieces.push_back(Whole(R"({"choices":[]})"));
  Run(Call());
  const UpstreamRequest& sent = exchange()->sent;
  EXPECT_EQ(sent.path, "/chat/completions");
  bool bearer = false;
  for (const auto& [name, value] : sent.headers) bearer |= value == std::string("Bearer ") + kKey;
  EXPECT_TRUE(bearer);
  EXPECT_EQ(sent.first_byte_timeout, std::chrono::milliseconds(300));
  EXPECT_EQ(sent.read_timeout, std::chrono::milliseconds(1000));
  EXPECT_EQ(sent.total_timeout, std::chrono::milliseconds(1000));
}

TEST(SseAccumulatorMemory, KeepsAtMostTheRecordedOutputButEstimatesTheWholeAnswer) {
  SseAccumulator events;
  const std::string piece(16000, 'x');
  const std::string event = "data: {\"choices\":[{\"delta\":{\"content\":\"" + piece + "\"}}]}\n\n";
  std::size_t relayed = 0;
  for (int i = 0; i < 200; ++i) relayed += events.Feed(event).size();  // 3.2 MB of answer
  EXPECT_EQ(relayed, event.size() * 200);
  EXPECT_EQ(events.content().size(), kMaxRecordedOutput);
  EXPECT_EQ(events.EstimatedCompletionTokens(), 200 * 16000 / 4);
}

TEST(SseAccumulatorMemory, TheRecordedOutputIsCutBetweenCharactersAndStaysAPrefix) {
  SseAccumulator events;
  // 3-byte characters: 1 MiB is not a multiple of 3, so a cut by bytes would split one.
  std::string piece;
  for (int i = 0; i < 5000; ++i) piece += "\xe2\x82\xac";
  const std::string event = "data: {\"choices\":[{\"delta\":{\"content\":\"" + piece + "\"}}]}\n\n";
  for (int i = 0; i < 80; ++i) events.Feed(event);  // 1.2 MB of answer
  events.Feed("data: {\"choices\":[{\"delta\":{\"content\":\"ascii after the cut\"}}]}\n\n");
  EXPECT_TRUE(IsValidUtf8(events.content()));
  EXPECT_LE(events.content().size(), kMaxRecordedOutput);
  EXPECT_GT(events.content().size(), kMaxRecordedOutput - 3);
  EXPECT_EQ(events.content().find("ascii"), std::string::npos)
      << "text after the cut must not be kept: the record holds the answer's start";
}

TEST_F(GatewayTest, AWholeAnswerIsRecordedUpToTheOutputBoundCutBetweenCharacters) {
  std::string text;
  for (int i = 0; i < 400'000; ++i) text += "\xe2\x82\xac";  // 1.2 MB
  exchange()->pieces.push_back(
      Whole(R"({"choices":[{"message":{"role":"assistant","content":")" + text + R"("}}]})"));
  const ChatResult result = Run(Call());
  ASSERT_FALSE(result.error);
  const RequestRecord record = OnlyRecord();
  ASSERT_TRUE(record.output);
  EXPECT_TRUE(IsValidUtf8(*record.output));
  EXPECT_LE(record.output->size(), kMaxRecordedOutput);
  EXPECT_GT(record.output->size(), kMaxRecordedOutput - 3);
  EXPECT_EQ(record.completion_tokens, 400'000 / 4) << "estimated over the whole answer";
}

TEST_F(GatewayTest, AStreamCutMidEventEndsWithTheErrorEventAndNoFragment) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(UpstreamBodyPiece{
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"choices\":[{\"del",
      false});
  exchange()->pieces.push_back(std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "cut"}));
  const ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  const std::string relayed = Drain(*result.stream);
  EXPECT_EQ(relayed.find("[{\"del\n"), std::string::npos) << relayed;
  // Every event a client gets is JSON it can parse.
  std::size_t events = 0;
  for (std::size_t at = 0; (at = relayed.find("data: ", at)) != std::string::npos; ++events) {
    const std::size_t end = relayed.find('\n', at);
    boost::system::error_code ec;
    boost::json::parse(relayed.substr(at + 6, end - at - 6), ec);
    EXPECT_FALSE(ec) << relayed.substr(at, end - at);
    at = end;
  }
  EXPECT_EQ(events, 2u) << relayed;
  EXPECT_NE(relayed.find("\"code\":502"), std::string::npos) << relayed;
  EXPECT_EQ(OnlyRecord().output.value_or(""), "Hi");
}

TEST_F(GatewayTest, TheEstimatedPromptOfAnAssistantCallCountsTheAssistantsPrompt) {
  const std::string prompt(400, 'p');  // 100 tokens at four characters a token
  exchange()->pieces.push_back(
      Whole(R"({"choices":[{"message":{"role":"assistant","content":"12345678"}}]})"));
  ChatCall call = Call();
  call.assistant = Assistant{};
  call.assistant->prompt = prompt;
  const ChatResult result = Run(std::move(call));
  ASSERT_FALSE(result.error);
  const auto body = boost::json::parse(result.body);
  const std::int64_t expected = EstimateTokens(prompt + "hello there");
  EXPECT_EQ(body.at("usage").at("prompt_tokens").as_int64(), expected);
  EXPECT_EQ(OnlyRecord().prompt_tokens, expected);
}

// API.md §8: max_tokens / max_completion_tokens are one setting; exactly one goes upstream.
class MaxTokensRule : public ::testing::Test {
 protected:
  boost::json::object Sent(const char* client_body, std::optional<std::int64_t> assistant_max) {
    ChatCall call;
    call.body = boost::json::parse(client_body).as_object();
    call.model = ResolvedModel{&provider_, nullptr, "m"};
    if (assistant_max) {
      call.assistant = Assistant{};
      call.assistant->prompt = "p";
      call.assistant->llm.max_tokens = assistant_max;
    }
    return boost::json::parse(BuildUpstreamBody(call.body, call)).as_object();
  }
  ProviderConfig provider_;
};

TEST_F(MaxTokensRule, OnlyMaxCompletionTokensGoesUpstreamWhenTheClientSentBoth) {
  auto sent = Sent(R"({"max_tokens":10,"max_completion_tokens":20,"messages":[]})", {});
  EXPECT_FALSE(sent.contains("max_tokens"));
  EXPECT_EQ(sent.at("max_completion_tokens").as_int64(), 20);
}

TEST_F(MaxTokensRule, TheNameTheClientUsedIsKept) {
  EXPECT_EQ(Sent(R"({"max_tokens":10,"messages":[]})", {}).at("max_tokens").as_int64(), 10);
  auto sent = Sent(R"({"max_completion_tokens":30,"messages":[]})", {});
  EXPECT_EQ(sent.at("max_completion_tokens").as_int64(), 30);
  EXPECT_FALSE(sent.contains("max_tokens"));
}

TEST_F(MaxTokensRule, TheAssistantsMaxTokensWinsUnderTheClientsName) {
  auto sent = Sent(R"({"max_completion_tokens":30,"messages":[]})", 64);
  EXPECT_EQ(sent.at("max_completion_tokens").as_int64(), 64);
  EXPECT_FALSE(sent.contains("max_tokens"));
  sent = Sent(R"({"messages":[]})", 64);
  EXPECT_EQ(sent.at("max_tokens").as_int64(), 64);
  EXPECT_FALSE(sent.contains("max_completion_tokens"));
}

}  // namespace
}  // namespace gatehouse
