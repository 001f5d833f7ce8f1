// What a call is metered with (gateway/metering.h): the answer text, the usage judged and
// priced, the usage event a client did not ask for, error events failed and redacted, and the
// estimates.
#include "gateway/metering.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>
#include <string_view>

namespace gatehouse {

namespace {

// The stand-in for the provider key's redaction: "sk-secret" becomes "[redacted]".
std::string RedactSecret(std::string_view text) {
  std::string out(text);
  for (auto at = out.find("sk-secret"); at != std::string::npos; at = out.find("sk-secret"))
    out.replace(at, 9, "[redacted]");
  return out;
}

}  // namespace

TEST(SseAccumulator, CollectsContentAndFinalUsageAcrossSplitReads) {
  const ModelPrice price{"m", 1.0, 2.0};
  SseAccumulator events(&price);
  std::string relayed;
  const std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\r\n\r\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n"
      "data: [DONE]\n\n";
  for (std::size_t i = 0; i < stream.size(); i += 5) relayed += events.Feed(stream.substr(i, 5));
  relayed += events.Finish();
  EXPECT_EQ(events.content(), "Hello");
  // Lines without usage go through byte for byte; the usage line gains its costs.
  EXPECT_TRUE(relayed.starts_with(stream.substr(0, stream.find("data: {\"choices\":[],"))));
  EXPECT_TRUE(relayed.ends_with("\n\ndata: [DONE]\n\n"));
  const auto usage_line = relayed.substr(relayed.find("data: {\"choices\":[],"));
  const auto usage_event = boost::json::parse(usage_line.substr(6, usage_line.find('\n') - 6));
  EXPECT_DOUBLE_EQ(usage_event.at("usage").at("total_cost").as_double(), (7 * 1.0 + 2 * 2.0) / 1e6);
  EXPECT_EQ(usage_event.at("usage").at("currency").as_string(), "USD");
  ASSERT_TRUE(events.usage());
  EXPECT_EQ(events.usage()->prompt, 7);
  EXPECT_EQ(events.usage()->completion, 2);
  EXPECT_TRUE(events.done());
}

// After [DONE] the answer is whole (and recorded): what a provider sends after it is relayed as
// it came, and counts neither as text nor as usage, however the reads split it.
TEST(SseAccumulator, WhatFollowsDoneIsRelayedButNotMetered) {
  SseAccumulator events;
  const std::string after =
      "data: {\"choices\":[{\"delta\":{\"content\":\" more\"}}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\n";
  const std::string relayed = events.Feed(
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n" + after);
  EXPECT_TRUE(relayed.ends_with(after)) << relayed;
  EXPECT_TRUE(events.done());
  EXPECT_EQ(events.content(), "hi");
  EXPECT_EQ(events.EstimatedCompletionTokens(), 1);
  EXPECT_FALSE(events.usage());
}

// After [DONE] a usage goes as the provider sent it: the record, made at [DONE], counts none of
// it, so it is neither priced nor replaced by the estimate (as absurd counts before it are).
TEST(SseAccumulator, AUsageAfterDoneIsNeitherPricedNorReplacedByTheEstimate) {
  const ModelPrice price{"m", 1.0, 2.0};
  SseAccumulator events(&price, [] { return std::int64_t{7}; });
  const std::string after =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,"
      "\"total_tokens\":13}}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":4,"
      "\"total_tokens\":-1}}\n\n";
  EXPECT_EQ(events.Feed("data: [DONE]\n\n" + after), "data: [DONE]\n\n" + after);
  // The same absurd usage before [DONE] is replaced by the estimate and priced.
  SseAccumulator before(&price, [] { return std::int64_t{7}; });
  const std::string relayed = before.Feed(
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":4,"
      "\"total_tokens\":-1}}\n\n");
  EXPECT_NE(relayed.find("\"prompt_tokens\":7"), std::string::npos) << relayed;
  EXPECT_NE(relayed.find("cost"), std::string::npos) << relayed;
}

TEST(SseAccumulator, AnErrorEventMarksTheStreamFailed) {
  SseAccumulator events;
  events.Feed("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}],\"error\":null}\n\n");
  EXPECT_FALSE(events.failed()) << "a null error is no error";
  events.Feed("data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n");
  EXPECT_TRUE(events.failed());
  EXPECT_FALSE(events.done());
}

// Without usage, the estimate counts what the model generated besides text, as text.
TEST(SseAccumulator, ToolCallsRefusalsAndReasoningCountTowardTheEstimate) {
  SseAccumulator events;
  events.Feed(
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
      "{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
      "{\"arguments\":\"{\\\"city\\\": \\\"Oslo\\\"}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hmm.\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"refusal\":\"no\"}}]}\n\n");
  EXPECT_EQ(events.content(), "");
  // get_weather (11) + {"city": "Oslo"} (16) + hmm. (4) + no (2) = 33 code points
  EXPECT_EQ(events.EstimatedCompletionTokens(), (33 + 3) / 4);
}

// The gateway asks every provider for the usage event (stream_options.include_usage) to meter
// the call; a client that did not ask for it does not get it: its choices are empty, and
// clients read choices[0] of every event (the OpenAI SDK's own examples do).
TEST(SseAccumulator, TheUsageEventTheClientDidNotAskForIsMeteredButNotRelayed) {
  const ModelPrice price{"m", 1.0, 2.0};
  const std::string text = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
  const std::string usage =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\r\n\r\n";
  const std::string done = "data: [DONE]\n\n";
  const std::string stream = text + usage + done;
  SseAccumulator events(&price, {}, /*relay_usage_only=*/false);
  std::string relayed;
  for (std::size_t i = 0; i < stream.size(); i += 7) relayed += events.Feed(stream.substr(i, 7));
  relayed += events.Finish();
  EXPECT_EQ(relayed, text + done);
  ASSERT_TRUE(events.usage());
  EXPECT_EQ(events.usage()->prompt, 7);
  EXPECT_EQ(events.usage()->completion, 2);
  EXPECT_TRUE(events.done());

  // Asked for (the default), it is relayed with its costs.
  SseAccumulator asked(&price);
  const std::string relayed_asked = asked.Feed(stream) + asked.Finish();
  EXPECT_NE(relayed_asked.find("\"total_cost\""), std::string::npos) << relayed_asked;
}

// The usage event a client did not ask for goes whole, whatever lines come before its data.
TEST(SseAccumulator, AnUnaskedUsageEventGoesWholeWithItsEventAndIdLines) {
  SseAccumulator events(nullptr, {}, /*relay_usage_only=*/false);
  const std::string text =
      "event: chunk\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
  const std::string usage =
      "event: usage\nid: 9\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
      "\"completion_tokens\":2}}\n\n";
  EXPECT_EQ(events.Feed(text + usage + "data: [DONE]\n\n"), text + "data: [DONE]\n\n");
  ASSERT_TRUE(events.usage());
  EXPECT_EQ(events.usage()->completion, 2);
}

// A provider's error event may quote the credentials it was given: its texts are redacted.
TEST(SseAccumulator, AnErrorEventsTextsGoThroughRedaction) {
  SseAccumulator events(nullptr, {}, true, RedactSecret);
  const std::string relayed = events.Feed(
      "data: {\"error\":{\"message\":\"Incorrect API key provided: sk-secret.\",\"param\":"
      "[\"sk-secret\"]}}\n\n");
  EXPECT_TRUE(events.failed());
  EXPECT_EQ(relayed.find("sk-secret"), std::string::npos) << relayed;
  EXPECT_NE(relayed.find("provided: [redacted]."), std::string::npos) << relayed;
  const std::string content = "data: {\"choices\":[{\"delta\":{\"content\":\"sk-secret\"}}]}\n\n";
  EXPECT_EQ(events.Feed(content), content) << "an answer's own text is not the provider's error";
}

// An event named error fails the call whatever its data, and its text is redacted line by line.
TEST(SseAccumulator, AnEventNamedErrorFailsTheCallAndItsTextIsRedacted) {
  SseAccumulator text(nullptr, {}, true, RedactSecret);
  EXPECT_EQ(text.Feed("event: error\ndata: quota exceeded for sk-secret\ndata: try later\n\n"),
            "event: error\ndata: quota exceeded for [redacted]\ndata: try later\n\n");
  EXPECT_TRUE(text.failed());
  SseAccumulator json(nullptr, {}, true, RedactSecret);
  const std::string relayed = json.Feed(
      "event: error\r\ndata: {\"type\":\"overloaded\",\"message\":\"sk-secret\"}\r\n\r\n");
  EXPECT_TRUE(json.failed());
  EXPECT_EQ(relayed.find("sk-secret"), std::string::npos) << relayed;
  EXPECT_TRUE(relayed.starts_with("event: error\r\ndata: {")) << relayed;
  SseAccumulator other;
  other.Feed("event: chunk\ndata: {\"choices\":[]}\n\n");
  EXPECT_FALSE(other.failed());
}

// An answer's events are JSON objects: data that is not one is the provider's own words, and is
// redacted whatever the event's name, without failing the call unless the event is an error.
TEST(SseAccumulator, DataThatIsNoJsonObjectIsRedactedWhateverItsEvent) {
  SseAccumulator events(nullptr, {}, true, RedactSecret);
  EXPECT_EQ(events.Feed("data: Incorrect API key provided: sk-secret\n\n"),
            "data: Incorrect API key provided: [redacted]\n\n");
  const std::string relayed = events.Feed("event: notice\ndata: [\"sk-secret\", 1]\n\n");
  EXPECT_EQ(relayed.find("sk-secret"), std::string::npos) << relayed;
  EXPECT_NE(relayed.find("[redacted]"), std::string::npos) << relayed;
  EXPECT_FALSE(events.failed());
  EXPECT_EQ(events.Feed("data: no key here\n\n"), "data: no key here\n\n");
}

// A cut event named error whose data is text is dropped like any cut event, and so fails
// nothing: the gateway's own error event then tells the client why the stream ends.
TEST(SseAccumulator, ACutEventNamedErrorIsDroppedAndFailsNothing) {
  SseAccumulator broken;
  broken.Feed("event: error\ndata: upstream overloaded\n");
  EXPECT_EQ(broken.Abandon(), "");
  EXPECT_FALSE(broken.failed());
  SseAccumulator closed;
  closed.Feed("event: error\ndata: upstream overloaded");
  EXPECT_EQ(closed.Finish(/*cut=*/true), "");
  EXPECT_FALSE(closed.failed());
}

// An error event reaches the client even when it carries the usage of an unasked usage event.
TEST(SseAccumulator, AnErrorEventIsRelayedEvenWhenItLooksUsageOnly) {
  SseAccumulator events(nullptr, {}, /*relay_usage_only=*/false);
  const std::string error =
      "event: error\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
      "\"completion_tokens\":2}}\n\n";
  EXPECT_EQ(events.Feed(error), error);
  EXPECT_TRUE(events.failed());
}

// API.md §8: costs extend the usage "when prices are configured"; zeros would tell the client
// the call was free.
TEST(SseAccumulator, WithoutAPriceTheUsageEventGoesThroughAsItCame) {
  const std::string usage =
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n";
  SseAccumulator events;
  EXPECT_EQ(events.Feed(usage), usage);
  ASSERT_TRUE(events.usage());
  EXPECT_EQ(events.usage()->prompt, 7);
}

TEST(SseAccumulator, AnUnbelievableUsageIsReplacedByTheEstimateTheRecordKeeps) {
  const ModelPrice price{"m", 1.0, 2.0};
  SseAccumulator events(&price, [] { return std::int64_t{40}; });
  std::string relayed =
      events.Feed("data: {\"choices\":[{\"delta\":{\"content\":\"twelve chars\"}}]}\n\n");
  relayed += events.Feed(
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":"
      "1000000000000000}}\n\n");
  const auto line = relayed.substr(relayed.find("data: {\"choices\":[],"));
  const auto event = boost::json::parse(line.substr(6, line.find('\n') - 6));
  const auto& usage = event.at("usage");
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), 40);
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), 3);  // twelve characters, four a token
  EXPECT_EQ(usage.at("total_tokens").as_int64(), 43);
  EXPECT_DOUBLE_EQ(usage.at("total_cost").as_double(), (40 * 1.0 + 3 * 2.0) / 1e6);
  EXPECT_FALSE(events.usage()) << "the record estimates over the whole answer itself";
}

TEST(SseAccumulator, AUsageThatNamesNoCountIsRelayedAsItIs) {
  SseAccumulator events(nullptr, [] { return std::int64_t{40}; });
  const std::string chunk =
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":{}}\n\n";
  EXPECT_EQ(events.Feed(chunk), chunk);
  EXPECT_FALSE(events.usage());
}

UsageReading ReadingOf(const char* usage, UsageShape shape = UsageShape::kChat) {
  return ReadUsageOf(boost::json::parse(std::string("{\"usage\":") + usage + "}").as_object(),
                     shape);
}

TEST(ReadUsage, TakesWholeCountsAndRefusesWhatIsNotBelievable) {
  const auto believed = ReadingOf(R"({"prompt_tokens":7,"completion_tokens":2,"total_tokens":9})");
  ASSERT_EQ(believed.verdict, UsageVerdict::kBelievable);
  EXPECT_EQ(believed.usage.prompt, 7);
  EXPECT_EQ(believed.usage.completion, 2);
  // No completion_tokens: the total tells them (an embeddings answer read as a chat's: 0).
  const auto embeddings = ReadingOf(R"({"prompt_tokens":13,"total_tokens":13})");
  ASSERT_EQ(embeddings.verdict, UsageVerdict::kBelievable);
  EXPECT_EQ(embeddings.usage.completion, 0);
  const auto from_total = ReadingOf(R"({"prompt_tokens":13,"total_tokens":20})");
  ASSERT_EQ(from_total.verdict, UsageVerdict::kBelievable);
  EXPECT_EQ(from_total.usage.completion, 7);
  // A whole number written with a fraction is one.
  const auto whole_floats =
      ReadingOf(R"({"prompt_tokens":7.0,"completion_tokens":2,"total_tokens":9.0})");
  ASSERT_EQ(whole_floats.verdict, UsageVerdict::kBelievable);
  EXPECT_EQ(whole_floats.usage.prompt, 7);
  // A null total is no total.
  const auto odd_total =
      ReadingOf(R"({"prompt_tokens":5,"completion_tokens":2,"total_tokens":null})");
  ASSERT_EQ(odd_total.verdict, UsageVerdict::kBelievable);
  EXPECT_EQ(odd_total.usage.completion, 2);
  for (const char* incomplete :
       {R"({})", R"({"total_tokens":18})", R"({"completion_tokens":3})", R"({"prompt_tokens":5})",
        R"({"prompt_tokens":20,"total_tokens":13})"}) {
    EXPECT_EQ(ReadingOf(incomplete).verdict, UsageVerdict::kIncomplete) << incomplete;
  }
  for (const char* unbelievable : {R"({"prompt_tokens":-5,"completion_tokens":10})",
                                   R"({"prompt_tokens":5,"completion_tokens":1000000000000000})",
                                   R"({"prompt_tokens":5,"completion_tokens":2.5})",
                                   R"({"prompt_tokens":5,"completion_tokens":"2"})",
                                   R"({"prompt_tokens":5,"total_tokens":-1})"}) {
    EXPECT_EQ(ReadingOf(unbelievable).verdict, UsageVerdict::kUnbelievable) << unbelievable;
  }
  EXPECT_EQ(ReadingOf("null").verdict, UsageVerdict::kAbsent);
  EXPECT_FALSE(ReadUsage(boost::json::parse(R"({"usage":{"prompt_tokens":5}})").as_object()));
}

// The client gets the provider's usage object: a count the meter does not need is judged too, so
// that a negative or absurd one is never relayed.
TEST(ReadUsage, EveryCountTheProviderNamesIsJudgedNotOnlyTheOnesMetered) {
  for (const char* unbelievable :
       {R"({"prompt_tokens":5,"completion_tokens":3,"total_tokens":-1})",
        R"({"prompt_tokens":5,"completion_tokens":3,)"
        R"("total_tokens":1000000000000000})",
        R"({"prompt_tokens":5,"completion_tokens":3,"total_tokens":8.5})"}) {
    EXPECT_EQ(ReadingOf(unbelievable).verdict, UsageVerdict::kUnbelievable) << unbelievable;
  }
  for (const char* unbelievable : {R"({"prompt_tokens":13,"total_tokens":-1})",
                                   R"({"prompt_tokens":13,"completion_tokens":-4})"}) {
    EXPECT_EQ(ReadingOf(unbelievable, UsageShape::kPromptOnly).verdict, UsageVerdict::kUnbelievable)
        << unbelievable;
  }
}

TEST(ReadUsage, AnEmbeddingsAnswerCountsItsPromptOrItsTotal) {
  for (const char* usage : {R"({"prompt_tokens":13,"total_tokens":13})", R"({"total_tokens":13})",
                            R"({"prompt_tokens":13,"completion_tokens":4})"}) {
    const auto reading = ReadingOf(usage, UsageShape::kPromptOnly);
    ASSERT_EQ(reading.verdict, UsageVerdict::kBelievable) << usage;
    EXPECT_EQ(reading.usage.prompt, 13) << usage;
    EXPECT_EQ(reading.usage.completion, 0) << usage;
  }
  EXPECT_EQ(ReadingOf(R"({})", UsageShape::kPromptOnly).verdict, UsageVerdict::kIncomplete);
  EXPECT_EQ(ReadingOf(R"({"prompt_tokens":-1})", UsageShape::kPromptOnly).verdict,
            UsageVerdict::kUnbelievable);
}

TEST(ChatCost, IsTokensTimesPricePerMillion) {
  const ModelPrice price{"m", 0.15, 0.60};
  const ChatCost cost = PriceOf(&price, 120, 48);
  EXPECT_DOUBLE_EQ(cost.prompt, 120 * 0.15 / 1e6);
  EXPECT_DOUBLE_EQ(cost.completion, 48 * 0.60 / 1e6);
  EXPECT_DOUBLE_EQ(cost.total, cost.prompt + cost.completion);
  EXPECT_DOUBLE_EQ(PriceOf(nullptr, 10, 10).total, 0);
}

TEST(EstimateTokens, IsNeverZeroForText) {
  EXPECT_EQ(EstimateTokens(""), 0);
  EXPECT_EQ(EstimateTokens("a"), 1);
  EXPECT_EQ(EstimateTokens("abcdefgh"), 2);
}

}  // namespace gatehouse
