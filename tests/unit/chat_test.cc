#include "gateway/chat.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace gatehouse {

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

// A broken stream's error event must reach the client as an event of its own, whatever the cut
// left: an event's end, an event without its blank line, part of an over-long line, or part of
// a line that is dropped.
TEST(SseAccumulator, AbandonEndsWhatWasRelayedSoThatTheErrorEventStandsAlone) {
  const std::string event = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n";
  const std::string long_line = "data: " + std::string((1 << 20) + 10, 'y');
  const std::string error = "data: {\"error\":{\"message\":\"Bad Gateway\",\"code\":502}}\n\n";
  struct Case {
    std::string fed;
    std::string closing;
  };
  for (const Case& cut :
       {Case{event + "\n", ""}, Case{event, "\n"}, Case{event + "\n" + long_line, "\n\n"},
        Case{event + "\ndata: {\"cho", ""}}) {
    SseAccumulator events;
    std::string relayed = events.Feed(cut.fed);
    const std::string closing = events.Abandon();
    EXPECT_EQ(closing, cut.closing) << cut.fed.substr(0, 80);
    relayed += closing + error;
    EXPECT_TRUE(relayed.ends_with("\n\n" + error)) << relayed.substr(0, 120);
    EXPECT_EQ(relayed.find("{\"cho\n"), std::string::npos) << "the cut event is dropped";
  }
}

TEST(SseAccumulator, ALastLineWithoutLineBreakIsMeteredAndEnded) {
  SseAccumulator events;
  std::string relayed = events.Feed("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
  relayed += events.Feed("data: [DONE]");
  EXPECT_FALSE(events.done());
  relayed += events.Finish();
  EXPECT_TRUE(events.done());
  EXPECT_TRUE(relayed.ends_with("\n\ndata: [DONE]\n\n"));
  EXPECT_EQ(events.Finish(), "");
}

// A provider's stream may end without the blank line of its last event: [DONE], appended
// after it, must still be an event of its own, not a second line of the provider's.
TEST(SseAccumulator, FinishEndsAnEventTheProviderLeftOpenSoThatDoneStandsAlone) {
  const std::string event = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n";
  const std::string long_line = "data: " + std::string((1 << 20) + 10, 'y');
  struct Case {
    std::string fed;
    std::string closing;
  };
  for (const Case& end :
       {Case{event + "\n", ""}, Case{event, "\n"}, Case{event + "\n" + long_line, "\n\n"}}) {
    SseAccumulator events;
    std::string relayed = events.Feed(end.fed);
    const std::string closing = events.Finish();
    EXPECT_EQ(closing, end.closing) << end.fed.substr(0, 80);
    relayed += closing + "data: [DONE]\n\n";
    EXPECT_TRUE(relayed.ends_with("\n\ndata: [DONE]\n\n")) << relayed.substr(0, 120);
  }
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

TEST(BuildUpstreamBody, PrependsTheAssistantPromptAppliesSettingsAndAsksStreamUsage) {
  ProviderConfig provider{"openai", "http://x", "", 1000, {{"gpt", 1, 1}}};
  ChatCall call;
  call.model = ResolvedModel{&provider, &provider.models[0], "gpt"};
  Assistant assistant;
  assistant.prompt = "Be brief.";
  assistant.llm.temperature = 0.5;
  assistant.llm.max_tokens = 64;
  call.assistant = assistant;
  call.stream = true;
  auto body = boost::json::parse(
                  R"({"model":"saia:assistant:x","messages":[{"role":"user","content":"hi"}]})")
                  .as_object();
  const auto upstream = boost::json::parse(BuildUpstreamBody(body, call)).as_object();
  EXPECT_EQ(upstream.at("model").as_string(), "gpt");
  const auto& messages = upstream.at("messages").as_array();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].at("role").as_string(), "system");
  EXPECT_EQ(messages[0].at("content").as_string(), "Be brief.");
  EXPECT_EQ(messages[1].at("content").as_string(), "hi");
  EXPECT_DOUBLE_EQ(upstream.at("temperature").as_double(), 0.5);
  EXPECT_EQ(upstream.at("max_tokens").as_int64(), 64);
  EXPECT_TRUE(upstream.at("stream_options").at("include_usage").as_bool());
}

TEST(BuildUpstreamBody, TheClientsOtherStreamOptionsGoAlongWithIncludeUsage) {
  ProviderConfig provider{"openai", "http://x", "", 1000, {{"gpt", 1, 1}}};
  ChatCall call;
  call.model = ResolvedModel{&provider, &provider.models[0], "gpt"};
  call.stream = true;
  auto body = boost::json::parse(R"({"model":"openai/gpt","messages":[],)"
                                 R"("stream_options":{"include_obfuscation":false}})")
                  .as_object();
  const auto upstream = boost::json::parse(BuildUpstreamBody(body, call)).as_object();
  const auto& options = upstream.at("stream_options").as_object();
  EXPECT_TRUE(options.at("include_usage").as_bool());
  EXPECT_FALSE(options.at("include_obfuscation").as_bool());
}

TEST(MessageText, ReadsLastUserAndFirstSystemTextIncludingParts) {
  const auto body = boost::json::parse(R"({"messages":[
      {"role":"system","content":"rules"},
      {"role":"user","content":"first"},
      {"role":"assistant","content":"answer"},
      {"role":"user","content":[{"type":"text","text":"sec"},{"type":"text","text":"ond"}]}]})")
                        .as_object();
  EXPECT_EQ(LastUserText(body), "second");
  EXPECT_EQ(SystemText(body), "rules");
}

}  // namespace gatehouse
