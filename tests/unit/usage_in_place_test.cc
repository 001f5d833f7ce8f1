// Costs added to a provider's answer in place: the member found by the text's structure alone,
// and every answer where that could mislead left to be written again.
#include "gateway/usage_in_place.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace gatehouse {
namespace {

std::optional<std::size_t> UsageEnd(std::string_view json) {
  return EndOfTopLevelObjectMember(json, "usage");
}

TEST(UsageInPlace, TheTopLevelMembersObjectEndIsFoundPastNestingAndStrings) {
  const std::string json =
      R"({"choices":[{"message":{"content":"a } \" { \\","usage":{"x":1}}}],)"
      R"( "usage" : {"prompt_tokens":3,"details":{"cached":[1,{"a":2}]}} , "z":"usage"})";
  const auto end = UsageEnd(json);
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, json.find(R"(} , "z")"));
}

TEST(UsageInPlace, NoMemberOfThatNameAtTheTopLevelIsNone) {
  EXPECT_FALSE(UsageEnd(R"({"choices":[{"usage":{}}]})"));
  EXPECT_FALSE(UsageEnd(R"({"a":"usage","b":{"usage":{}}})"));
  EXPECT_FALSE(UsageEnd(R"([{"usage":{}}])"));
  EXPECT_FALSE(UsageEnd(R"(["usage",{}])"));
}

// Boost.JSON, which the meter reads the usage with, keeps the last of duplicate names, as most
// readers do: the last member is the usage whatever came before it.
TEST(UsageInPlace, TheLastMemberIsTakenFromTheEndWhateverNamesCameBefore) {
  const std::string json = R"({"usage":{"a":1}, "us\u0061ge":{}, "usage" :{"b":"}"} } )";
  const auto end = UsageEnd(json);
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, json.rfind('}', json.size() - 3));
  EXPECT_EQ(json.substr(*end - 4, 5), R"(:"}"})");
}

TEST(UsageInPlace, AMemberNamedTwiceOrWithAnEscapeOrNotAnObjectIsNone) {
  EXPECT_FALSE(UsageEnd(R"({"usage":{},"usage":{},"a":1})"));
  EXPECT_FALSE(UsageEnd(R"({"usage":{},"us\u0061ge":{}})"));
  EXPECT_FALSE(UsageEnd(R"({"us\u0061ge":{},"usage":{},"a":1})"));
  EXPECT_FALSE(UsageEnd(R"({"us\u0061ge":{}})"));
  EXPECT_FALSE(UsageEnd(R"({"usage":null})"));
  EXPECT_FALSE(UsageEnd(R"({"usage":"{}"})"));
  EXPECT_FALSE(UsageEnd(R"({"usage":[{}]})"));
  EXPECT_FALSE(UsageEnd(R"({"a\"b":1,"usage":{},"c":1})"));            // any escaped top-level name
  EXPECT_TRUE(UsageEnd(R"({"a":"x\"y","b":{"c\"d":1},"usage":{}})"));  // values, nested names
}

TEST(UsageInPlace, CostsAreAppendedInsideTheUsageObjectAndTheRestIsKeptByteForByte) {
  const std::string head = "{\"id\":\"x\",\"n\":1.50E+1,\n  \"usage\": {\"prompt_tokens\": 4 ";
  std::string answer = head + "} }\n";
  ASSERT_TRUE(AppendCostsToUsage(answer, ChatCost{1.5, 0.25, 1.75}));
  EXPECT_EQ(answer.substr(0, head.size()), head);
  EXPECT_EQ(answer.substr(answer.size() - 4), "} }\n");
  const auto usage = boost::json::parse(answer).at("usage").as_object();
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), 4);
  EXPECT_EQ(usage.at("prompt_cost").as_double(), 1.5);
  EXPECT_EQ(usage.at("completion_cost").as_double(), 0.25);
  EXPECT_EQ(usage.at("total_cost").as_double(), 1.75);
  EXPECT_EQ(usage.at("currency").as_string(), "USD");
}

TEST(UsageInPlace, AnEmptyUsageObjectGetsTheCostsWithoutALeadingComma) {
  std::string answer = R"({"usage":{ }})";
  ASSERT_TRUE(AppendCostsToUsage(answer, ChatCost{}));
  EXPECT_EQ(boost::json::parse(answer).at("usage").as_object().size(), 4u);
}

// A JSON reader that types its numbers (Python's json) takes `2` for an integer: a cost is a
// fraction, whole or not, as it is in a streamed answer.
TEST(UsageInPlace, AWholeCostIsStillWrittenAsAFraction) {
  std::string answer = R"({"usage":{}})";
  ASSERT_TRUE(AppendCostsToUsage(answer, ChatCost{0, 2, 2}));
  EXPECT_NE(answer.find(R"("prompt_cost":0.0,)"), std::string::npos) << answer;
  EXPECT_NE(answer.find(R"("total_cost":2.0,)"), std::string::npos) << answer;
  const auto usage = boost::json::parse(answer).at("usage").as_object();
  EXPECT_TRUE(usage.at("completion_cost").is_double());
}

TEST(UsageInPlace, AnAnswerWhoseUsageCannotBeFoundIsLeftUntouched) {
  std::string answer = R"({"usage":{},"usage":{},"a":1})";
  EXPECT_FALSE(AppendCostsToUsage(answer, ChatCost{1, 1, 2}));
  EXPECT_EQ(answer, R"({"usage":{},"usage":{},"a":1})");
  answer = R"({"usage":{}})";
  EXPECT_FALSE(AppendCostsToUsage(answer, ChatCost{1e308 * 10, 0, 1e308 * 10}));
  EXPECT_EQ(answer, R"({"usage":{}})");
}

}  // namespace
}  // namespace gatehouse
