// The gateway's timeouts, streams, cancellation, caps, metering and records, driven through the
// upstream seam with a test double (gateway_fixture.h).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <set>
#include <thread>

#include "core/text.h"
#include "gateway/chat_body.h"
#include "gateway_fixture.h"
#include "journal_files.h"
#include "usage/request_journal.h"

namespace gatehouse {
namespace {

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

// The provider has the prompt once the request is sent: a call that then times out, or whose
// client leaves, is recorded with the prompt's estimate, so that a cost limit sees it.
TEST_F(GatewayTest, ACallThatTimesOutAfterItsRequestWasSentIsRecordedWithItsPromptEstimate) {
  exchange()->head = std::unexpected(UpstreamError{UpstreamFailure::kTimeout, "slow"});
  ExpectError(Run(Call()), ErrorCode::kProviderTimeout);
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.http_status, 504);
  EXPECT_EQ(record.prompt_tokens, EstimateTokens("hello there"));
  EXPECT_EQ(record.completion_tokens, 0);
  EXPECT_GT(record.cost, 0);
}

TEST_F(GatewayTest, ACallThatTimesOutBeforeItsRequestWasSentCostsNothing) {
  exchange()->request_sent = false;  // e.g. the connect timed out
  exchange()->head = std::unexpected(UpstreamError{UpstreamFailure::kTimeout, "connect"});
  ExpectError(Run(Call()), ErrorCode::kProviderTimeout);
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.http_status, 504);
  EXPECT_EQ(record.prompt_tokens, 0);
  EXPECT_EQ(record.cost, 0);
}

TEST_F(GatewayTest, AClientThatLeavesAfterTheRequestWasSentIsRecordedWithThePromptEstimate) {
  exchange()->hold_head = true;
  auto cancel = gateway_.Run(Call(), [](ChatResult) {});
  cancel();
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.http_status, 499);
  EXPECT_EQ(record.prompt_tokens, EstimateTokens("hello there"));
  EXPECT_GT(record.cost, 0);
}

TEST_F(GatewayTest, AProviderErrorAnswerCostsNothing) {
  exchange()->head = UpstreamHead{500, "application/json", ""};
  exchange()->pieces.push_back(Whole(R"({"error":{"message":"down"}})"));
  ExpectError(Run(Call()), ErrorCode::kBadGateway);
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.http_status, 502);
  EXPECT_EQ(record.prompt_tokens, 0);
  EXPECT_EQ(record.cost, 0);
}

TEST_F(GatewayTest, TimeoutWhileReadingTheBodyIs504Id100) {
  exchange()->pieces.push_back(std::unexpected(UpstreamError{UpstreamFailure::kTimeout, "t"}));
  ExpectError(Run(Call()), ErrorCode::kProviderTimeout);
  EXPECT_EQ(OnlyRecord().http_status, 504);
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

// A client that leaves on the provider's error event (as OpenAI's SDKs do) left a failed call.
TEST_F(GatewayTest, AClientThatLeavesAfterAnErrorEventLeftACallThatFailed502) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(
      UpstreamBodyPiece{"data: {\"error\":{\"message\":\"overloaded\"}}\n\n", false});
  ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  result.stream->Next([](BodyPiece, std::string) {});
  result.stream->Abort();
  result.stream.reset();
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ((std::pair{record.status, record.http_status}),
            (std::pair{std::string("failed"), 502}));
}

// After [DONE] the answer is whole: a provider that breaks then fails nothing.
TEST_F(GatewayTest, AStreamThatBreaksAfterDoneSucceeded) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(UpstreamBodyPiece{
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n", false});
  exchange()->pieces.push_back(
      UpstreamBodyPiece{"data: {\"error\":{\"message\":\"late\"}}\n\n", false});
  exchange()->pieces.push_back(std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "reset"}));
  ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  const std::string relayed = Drain(*result.stream);
  EXPECT_EQ(relayed.find("\"code\":502"), std::string::npos) << relayed;
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ((std::pair{record.status, record.http_status}),
            (std::pair{std::string("succeeded"), 200}));
}

// [DONE] whose blank line the break took: the answer was whole all the same.
TEST_F(GatewayTest, AStreamThatBreaksBeforeDonesBlankLineSucceeded) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(UpstreamBodyPiece{
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n", false});
  exchange()->pieces.push_back(std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "reset"}));
  ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  const std::string relayed = Drain(*result.stream);
  EXPECT_EQ(relayed.find("\"code\":502"), std::string::npos) << relayed;
  EXPECT_TRUE(relayed.ends_with("data: [DONE]\n\n")) << relayed;
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ((std::pair{record.status, record.http_status}),
            (std::pair{std::string("succeeded"), 200}));
}

// A body its provider's close ended mid-line: the cut line is no event a client can read.
TEST_F(GatewayTest, AStreamTheCloseCutMidLineDropsTheCutEventAndEndsWithTheErrorEvent) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(
      UpstreamBodyPiece{"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
                        "data: {\"choices\":[{\"delta\":{\"content\":\"hel",
                        true, true});
  ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  const std::string relayed = Drain(*result.stream);
  EXPECT_EQ(relayed.find("\"hel"), std::string::npos) << relayed;
  EXPECT_TRUE(
      relayed.ends_with("\n\ndata: {\"error\":{\"message\":\"Bad Gateway\",\"code\":502}}\n\n"))
      << relayed;
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ((std::pair{record.status, record.http_status}),
            (std::pair{std::string("failed"), 502}));
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
  std::thread loop([&] {
    log.DeferJournalOnThisThread();
    exchange()->hold_head = true;
    auto cancel = gateway.Run(Call(), [](ChatResult) {});
    EXPECT_TRUE(JournaledRecords(journal_dir).empty());
    cancel();
    const auto frames = JournaledRecords(journal_dir);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].http_status, 499);
  });
  loop.join();
  log.Stop();
}

// A client may stop reading at [DONE], and the provider's body may end much later: the call is
// recorded before the piece that carries [DONE] is relayed, so the frame the loop writes before
// sending that piece holds it (a kill -9 meanwhile loses nothing the client has).
TEST_F(GatewayTest, AStreamIsRecordedBeforeThePieceThatCarriesItsDoneIsRelayed) {
  const std::filesystem::path journal_dir = dir_ / "journal";
  std::filesystem::create_directories(journal_dir);
  RequestLog log(store_, RequestLogOptions{.max_delay = std::chrono::hours(1)});
  ASSERT_TRUE(log.OpenJournal(journal_dir.string()));
  Gateway gateway(client_, log);
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(UpstreamBodyPiece{
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\n"
      "data: [DONE]\n\n",
      false});
  std::thread loop([&] {
    log.DeferJournalOnThisThread();
    std::optional<ChatResult> result;
    gateway.Run(Call(true), [&](ChatResult answer) { result = std::move(answer); });
    ASSERT_TRUE(result && result->stream);
    std::string relayed;
    std::vector<RequestRecord> frames;
    result->stream->Next([&](BodyPiece piece, std::string chunk) {
      EXPECT_EQ(piece, BodyPiece::kMore) << "the provider's body has not ended yet";
      relayed = std::move(chunk);
      log.FlushJournal();  // what the loop does before it sends the piece it was handed
      frames = JournaledRecords(journal_dir);
    });
    EXPECT_TRUE(relayed.ends_with("data: [DONE]\n\n")) << relayed;
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ((std::pair{frames[0].status, frames[0].http_status}),
              (std::pair{std::string("succeeded"), 200}));
    EXPECT_EQ((std::pair{frames[0].prompt_tokens, frames[0].completion_tokens}),
              (std::pair{std::int64_t{9}, std::int64_t{4}}));
    result->stream.reset();  // the end that follows records nothing more
  });
  loop.join();
  log.Stop();
  EXPECT_EQ(Records().size(), 1u);
}

// Recorded at [DONE], a stream still holds its provider's slot until the provider's body ends:
// the provider counts the call until then.
TEST_F(GatewayTest, AStreamRecordedAtDoneKeepsItsConcurrencySlotUntilTheProvidersBodyEnds) {
  provider_.max_concurrent = 1;
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(UpstreamBodyPiece{"data: [DONE]\n\n", false});
  ChatResult first = Run(Call(true));
  ASSERT_TRUE(first.stream);
  first.stream->Next([](BodyPiece, std::string) {});  // relays [DONE]; the body goes on
  ExpectError(Run(Call(true)), ErrorCode::kRateLimited);
  EXPECT_EQ(Drain(*first.stream), "");  // the provider's end
  client_.next = std::make_shared<ScriptedExchange>();
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  EXPECT_TRUE(Run(Call(true)).stream) << "the slot is free once the body has ended";
}

// An event over SseAccumulator::kMaxHeldEvent after [DONE] ends the stream there, as whole: no
// error event follows the [DONE], and the call succeeded.
TEST_F(GatewayTest, AnOversizedEventAfterDoneEndsAWholeStream) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(UpstreamBodyPiece{
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n", false});
  const std::string huge(64 * 1024, 'x');
  exchange()->pieces.push_back(UpstreamBodyPiece{"data: " + huge, false});
  for (int i = 0; i < 20; ++i) exchange()->pieces.push_back(UpstreamBodyPiece{huge, false});
  ChatResult result = Run(Call(true));
  ASSERT_TRUE(result.stream);
  const std::string relayed = Drain(*result.stream);
  EXPECT_TRUE(relayed.ends_with("data: [DONE]\n\n")) << relayed.substr(0, 200);
  EXPECT_TRUE(exchange()->cancelled);
  result.stream.reset();
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ((std::pair{record.status, record.http_status}),
            (std::pair{std::string("succeeded"), 200}));
}

// The concurrency slot is the provider's count of the call: it goes wherever the provider's call
// ends, whichever way that is, and only there.
TEST_F(GatewayTest, EveryWayAProviderCallEndsFreesItsConcurrencySlot) {
  provider_.max_concurrent = 1;
  const UpstreamHead json{200, "application/json", ""};
  const UpstreamHead sse{200, "text/event-stream", ""};
  const PieceResult cut = std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "reset"});
  auto script = [&](HeadResult head, std::vector<PieceResult> pieces) {
    client_.next = std::make_shared<ScriptedExchange>();
    exchange()->head = std::move(head);
    for (auto& piece : pieces) exchange()->pieces.push_back(std::move(piece));
  };
  auto expect_free = [&](const char* after) {
    script(json, {Whole(R"({"choices":[]})")});
    const ChatResult next = Run(Call());
    EXPECT_FALSE(next.error) << "the slot was kept after " << after;
  };
  script(json, {Whole(R"({"choices":[]})")});
  EXPECT_FALSE(Run(Call()).error);
  expect_free("a whole answer");
  script(UpstreamHead{400, "application/json", ""}, {Whole(R"({"error":{"message":"no"}})")});
  EXPECT_EQ(Run(Call()).status, 400);
  expect_free("a provider's refusal");
  script(std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "refused"}), {});
  ExpectError(Run(Call()), ErrorCode::kBadGateway);
  expect_free("a failed connection");
  script(json, {UpstreamBodyPiece{"{\"choi", false}, cut});
  ExpectError(Run(Call()), ErrorCode::kBadGateway);
  expect_free("a body cut short");
  script(json, {});
  ExpectError(Run(Call(true)), ErrorCode::kBadGateway);
  expect_free("a stream answered with JSON");
  for (const auto& [pieces, what] :
       {std::pair{std::vector<PieceResult>{Whole("data: [DONE]\n\n")}, "a whole stream"},
        std::pair{std::vector<PieceResult>{UpstreamBodyPiece{"data: {}\n\n", false}, cut},
                  "a broken stream"}}) {
    script(sse, pieces);
    ChatResult stream = Run(Call(true));
    ASSERT_TRUE(stream.stream);
    Drain(*stream.stream);
    expect_free(what);
  }
  script(sse, {UpstreamBodyPiece{"data: {}\n\n", false}});
  ChatResult left = Run(Call(true));
  ASSERT_TRUE(left.stream);
  left.stream->Next([](BodyPiece, std::string) {});
  left.stream.reset();  // the client left
  expect_free("a stream its client left");
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

// With `n` > 1 choices a record keeps the first choice's text, streamed or not, and an estimated
// completion counts what every choice generated.
TEST_F(GatewayTest, SeveralChoicesAreRecordedAsTheFirstChoicesTextAndEstimatedWhole) {
  exchange()->pieces.push_back(
      Whole(R"({"choices":[{"index":0,"message":{"role":"assistant","content":"aaaa"}},)"
            R"({"index":1,"message":{"role":"assistant","content":"bbbbbbbb"}}]})"));
  ASSERT_FALSE(Run(Call()).error);
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.output.value_or(""), "aaaa");
  EXPECT_EQ(record.completion_tokens, 3) << "(4 + 8 code points) / 4, rounded up";
}

TEST_F(GatewayTest, SeveralStreamedChoicesAreRecordedAsTheFirstChoicesTextAndEstimatedWhole) {
  exchange()->head = UpstreamHead{200, "text/event-stream", ""};
  exchange()->pieces.push_back(
      UpstreamBodyPiece{"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"aa\"}}]}\n\n"
                        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"bbbb\"}}]}\n\n"
                        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"aa\"}}]}\n\n"
                        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"bbbb\"}}]}\n\n"
                        "data: [DONE]\n\n",
                        true});
  const ChatResult streamed = Run(Call(true));
  ASSERT_TRUE(streamed.stream);
  Drain(*streamed.stream);
  const RequestRecord record = OnlyRecord();
  EXPECT_EQ(record.output.value_or(""), "aaaa");
  EXPECT_EQ(record.completion_tokens, 3);
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

// Without a usage from the provider, a call whose prompt is not text is still never free: token
// ids count one each, an image (or any other part that is not text) a floor of 85.
TEST_F(GatewayTest, AnEstimateCountsTokenIdsAndPartsThatAreNotText) {
  exchange()->pieces.push_back(Whole(R"({"object":"list","data":[]})"));
  ChatCall embeddings = Call();
  embeddings.kind = CallKind::kEmbeddings;
  embeddings.body = boost::json::parse(R"({"model":"p/m","input":[[1,2,3],[4,5]]})").as_object();
  ASSERT_FALSE(Run(std::move(embeddings)).error);

  client_.next = std::make_shared<ScriptedExchange>();
  exchange()->pieces.push_back(Whole(R"({"choices":[]})"));
  ChatCall image = Call();
  image.body = boost::json::parse(R"({"model":"p/m","messages":[{"role":"user","content":[)"
                                  R"({"type":"image_url","image_url":{"url":"https://x/y.png"}},)"
                                  R"({"type":"text","text":"what is it"}]},)"
                                  R"({"role":"assistant","content":[)"
                                  R"({"type":"refusal","refusal":"no"}]}]})")
                   .as_object();
  ASSERT_FALSE(Run(std::move(image)).error);

  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  std::multiset<std::int64_t> prompts;
  for (const auto& record : records) prompts.insert(record.prompt_tokens);
  // A refusal part is text.
  EXPECT_EQ(prompts, (std::multiset<std::int64_t>{5, 85 + EstimateTokens("what is itno")}));
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
  sent = Sent(R"({"max_tokens":10,"max_completion_tokens":20,"messages":[]})", 64);
  EXPECT_EQ(sent.at("max_completion_tokens").as_int64(), 64);
  EXPECT_FALSE(sent.contains("max_tokens"));
}

// A null is no value: the other name's value goes, under its own name.
TEST_F(MaxTokensRule, ANullUnderOneNameLeavesTheOther) {
  auto sent = Sent(R"({"max_tokens":10,"max_completion_tokens":null,"messages":[]})", {});
  EXPECT_EQ(sent.at("max_tokens").as_int64(), 10);
  EXPECT_FALSE(sent.contains("max_completion_tokens"));
  sent = Sent(R"({"max_tokens":null,"messages":[]})", {});
  EXPECT_FALSE(sent.contains("max_tokens"));
  EXPECT_FALSE(sent.contains("max_completion_tokens"));
}

}  // namespace
}  // namespace gatehouse
