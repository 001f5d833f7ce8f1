// What the gateway does with a provider's answer: checked, not trusted (failures mapped to the
// API.md envelope, keys kept out, usage judged), driven through the upstream seam.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/text.h"
#include "gateway_fixture.h"

namespace gatehouse {
namespace {

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

// JSON is not enough: a 200 without the choices of a completion (or the data of embeddings) is
// garbage, never a success the project is billed for.
TEST_F(GatewayTest, A200ThatIsNotAnOpenAIAnswerIs502Id502AndRecordedFailed) {
  for (const char* answer :
       {R"({})", R"({"error":{"message":"upstream quota"}})", R"({"choices":{"0":"x"}})"}) {
    client_.next = std::make_shared<ScriptedExchange>();
    exchange()->pieces.push_back(Whole(answer));
    const ChatResult result = Run(Call());
    ExpectError(result, ErrorCode::kBadGateway);
    EXPECT_EQ(ErrorIdOf(result.error->code()), 502) << answer;
  }
  client_.next = std::make_shared<ScriptedExchange>();
  exchange()->pieces.push_back(Whole(R"({"object":"list","usage":{"prompt_tokens":3}})"));
  ChatCall embeddings = Call();
  embeddings.kind = CallKind::kEmbeddings;
  embeddings.body = boost::json::parse(R"({"model":"p/m","input":"embed me"})").as_object();
  ExpectError(Run(std::move(embeddings)), ErrorCode::kBadGateway);
  const auto records = Records();
  ASSERT_EQ(records.size(), 4u);
  for (const auto& record : records) {
    EXPECT_EQ(record.status, "failed");
    EXPECT_EQ(record.http_status, 502);
  }
}

TEST_F(GatewayTest, AnEmbeddingsUsageWithABadCountIsReplacedByTheEstimate) {
  exchange()->pieces.push_back(
      Whole(R"({"object":"list","data":[{"embedding":[0.5]}],)"
            R"("usage":{"prompt_tokens":4,"completion_tokens":-9,"total_tokens":4}})"));
  ChatCall call = Call();
  call.kind = CallKind::kEmbeddings;
  call.body = boost::json::parse(R"({"model":"p/m","input":"embed me"})").as_object();
  const ChatResult result = Run(std::move(call));
  ASSERT_FALSE(result.error);
  const auto usage = boost::json::parse(result.body).at("usage").as_object();
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), EstimateTokens("embed me"));
  EXPECT_EQ(usage.at("total_tokens").as_int64(), EstimateTokens("embed me"));
  EXPECT_FALSE(usage.contains("completion_tokens"));
  EXPECT_EQ(OnlyRecord().prompt_tokens, EstimateTokens("embed me"));
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

// The provider's message is kept; what looks like a credential in it is not, and only that.
TEST_F(GatewayTest, AProvidersMessageLosesTheWordsThatLookLikeKeysAndNoOthers) {
  const auto relayed = [this](const std::string& message) {
    client_.next = std::make_shared<ScriptedExchange>();
    exchange()->head = UpstreamHead{400, "application/json", ""};
    exchange()->pieces.push_back(
        Whole(boost::json::serialize(boost::json::object{{"error", {{"message", message}}}})));
    const ChatResult result = Run(Call());
    const auto body = boost::json::parse(result.body);
    return std::string(body.at("errors").at(0).at("description").as_string());
  };
  EXPECT_EQ(relayed("Unknown parameter 'task-id' for disk-size"),
            "Unknown parameter 'task-id' for disk-size");
  EXPECT_EQ(relayed("Bad key=sk-live-abc provided"), "Bad [redacted] provided");
  EXPECT_EQ(relayed("Incorrect API key AbCd****wXyZ provided"),
            "Incorrect API key [redacted] provided");
  EXPECT_EQ(relayed("bold **not** masked"), "bold **not** masked");
  // A key shorter than eight characters (a local server's placeholder) where it stands alone.
  ::setenv(kKeyEnv, "k3y9", 1);
  EXPECT_EQ(relayed("key k3y9 refused"), "key [redacted] refused");
  EXPECT_EQ(relayed("key=k3y9, refused"), "[redacted] refused");
  ::setenv(kKeyEnv, "x", 1);
  EXPECT_EQ(relayed("max_tokens exceeds the context"), "max_tokens exceeds the context");
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
                            R"({"prompt_tokens":"5","completion_tokens":3})",
                            // good counts beside a bad total: the client would read the total
                            R"({"prompt_tokens":5,"completion_tokens":3,"total_tokens":-1})"}) {
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
    EXPECT_EQ(body.at("usage").at("total_tokens").as_int64(), EstimateTokens("hello there") + 2);
  }
  for (const auto& record : Records()) {
    EXPECT_EQ(record.prompt_tokens, EstimateTokens("hello there"));
    EXPECT_EQ(record.completion_tokens, 2);
    EXPECT_EQ(record.status, "succeeded");
  }
}

// The provider's answer reaches the client as the provider wrote it: the gateway adds its costs
// inside the usage object and writes nothing else again.
TEST_F(GatewayTest, AnAnswerWithItsOwnUsageIsRelayedAsWrittenWithTheCostsInItsUsage) {
  const std::string head =
      "{\"id\": \"c-1\", \"created\": 1.0e0,\n \"choices\": [{\"message\": {\"role\": "
      "\"assistant\", \"content\": \"hi \\u00e9\"}}],\n \"usage\": {\"prompt_tokens\": 4, "
      "\"completion_tokens\": 2, \"total_tokens\": 6";
  exchange()->pieces.push_back(Whole(head + "}\n}\n"));
  const ChatResult result = Run(Call());
  ASSERT_FALSE(result.error);
  EXPECT_EQ(result.body.substr(0, head.size()), head);
  EXPECT_EQ(result.body.substr(result.body.size() - 4), "}\n}\n");
  const auto usage = boost::json::parse(result.body).at("usage").as_object();
  EXPECT_DOUBLE_EQ(usage.at("prompt_cost").as_double(), 4 * 1.0 / 1e6);
  EXPECT_DOUBLE_EQ(usage.at("completion_cost").as_double(), 2 * 2.0 / 1e6);
  EXPECT_DOUBLE_EQ(usage.at("total_cost").as_double(), 8 / 1e6);
  EXPECT_EQ(usage.at("currency").as_string(), "USD");
  EXPECT_EQ(OnlyRecord().prompt_tokens, 4);

  // Without prices the answer is the provider's, byte for byte.
  client_.next = std::make_shared<ScriptedExchange>();
  exchange()->pieces.push_back(Whole(head + "}\n}\n"));
  ChatCall unpriced = Call();
  unpriced.model.price = nullptr;
  EXPECT_EQ(Run(std::move(unpriced)).body, head + "}\n}\n");
}

// A provider's own cost fields would tell the client another price than the record's: they are
// replaced by the gateway's, as is the usage of an answer the text alone cannot place it in.
TEST_F(GatewayTest, TheProvidersOwnCostFieldsAreReplacedByTheGateways) {
  for (const char* usage :
       {R"("usage":{"prompt_tokens":4,"completion_tokens":2,"total_cost":99,"currency":"EUR"})",
        R"("us\u0061ge":{"prompt_tokens":4,"completion_tokens":2})"}) {
    client_.next = std::make_shared<ScriptedExchange>();
    exchange()->pieces.push_back(
        Whole(std::string(R"({"choices":[{"message":{"content":"hi"}}],)") + usage + "}"));
    const ChatResult result = Run(Call());
    ASSERT_FALSE(result.error) << usage;
    const auto fields = boost::json::parse(result.body).at("usage").as_object();
    EXPECT_DOUBLE_EQ(fields.at("total_cost").as_double(), 8 / 1e6) << usage;
    EXPECT_EQ(fields.at("currency").as_string(), "USD") << usage;
    // Replaced, not shadowed by a second field a reader of the first duplicate would miss.
    EXPECT_EQ(result.body.find("total_cost"), result.body.rfind("total_cost")) << result.body;
    EXPECT_EQ(result.body.find("EUR"), std::string::npos) << result.body;
  }
}

}  // namespace
}  // namespace gatehouse
