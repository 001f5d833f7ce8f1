#include "gateway/chat_body.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace gatehouse {

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

TEST(EstimatedPromptTokens, CountsTheAssistantPromptTheTextsAndEachPartThatIsNotText) {
  ProviderConfig provider{"openai", "http://x", "", 1000, {{"gpt", 1, 1}}};
  ChatCall call;
  call.model = ResolvedModel{&provider, &provider.models[0], "gpt"};
  call.body = boost::json::parse(R"({"messages":[
      {"role":"user","content":[{"type":"text","text":"abcd"},
                                {"type":"image_url","image_url":{"url":"data:,"}}]},
      {"role":"assistant","content":"efgh"}]})")
                  .as_object();
  // "abcd" and "efgh": 8 characters, 2 tokens; the image: 85.
  EXPECT_EQ(EstimatedPromptTokens(call), 2 + 85);
  Assistant assistant;
  assistant.prompt = "Be brief.";  // 9 more characters: 17 in all, 5 tokens
  call.assistant = assistant;
  EXPECT_EQ(EstimatedPromptTokens(call), 5 + 85);
}

TEST(EstimatedPromptTokens, CountsAnEmbeddingsInputOfTextsAndOfTokenIds) {
  ProviderConfig provider{"openai", "http://x", "", 1000, {{"emb", 1, 0}}};
  ChatCall call;
  call.kind = CallKind::kEmbeddings;
  call.model = ResolvedModel{&provider, &provider.models[0], "emb"};
  call.body = boost::json::parse(R"({"input":["abcd","efgh"]})").as_object();
  EXPECT_EQ(EstimatedPromptTokens(call), 2);
  call.body = boost::json::parse(R"({"input":[[101,102,103]]})").as_object();
  EXPECT_EQ(EstimatedPromptTokens(call), 3);  // a token id is a token
}

TEST(AskedForUsage, OnlyATrueIncludeUsageAsks) {
  EXPECT_TRUE(AskedForUsage(
      boost::json::parse(R"({"stream_options":{"include_usage":true}})").as_object()));
  EXPECT_FALSE(AskedForUsage(
      boost::json::parse(R"({"stream_options":{"include_usage":"yes"}})").as_object()));
  EXPECT_FALSE(AskedForUsage(boost::json::parse(R"({"stream":true})").as_object()));
}

}  // namespace gatehouse
