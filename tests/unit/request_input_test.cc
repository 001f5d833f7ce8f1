#include "api/request_input.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace gatehouse {
namespace {

HttpRequest JsonRequest(std::string body, std::string type = "application/json") {
  HttpRequest request;
  request.method = "POST";
  request.headers.emplace_back("Content-Type", std::move(type));
  request.body = std::move(body);
  return request;
}

ErrorCode CodeOf(const Result<boost::json::object>& result) { return result.error().code(); }

}  // namespace

TEST(ParseJsonBody, OtherContentTypeIs415Id9005) {
  EXPECT_EQ(CodeOf(ParseJsonBody(JsonRequest("{}", "text/plain"))),
            ErrorCode::kUnsupportedMediaType);
  EXPECT_TRUE(ParseJsonBody(JsonRequest("{}", "application/json; charset=utf-8")));
}

TEST(ParseJsonBody, InvalidJsonArrayAndInvalidUtf8AreBadInputText) {
  EXPECT_EQ(CodeOf(ParseJsonBody(JsonRequest("{\"name\":"))), ErrorCode::kBadInputText);
  EXPECT_EQ(CodeOf(ParseJsonBody(JsonRequest("[1,2]"))), ErrorCode::kBadInputText);
  EXPECT_EQ(CodeOf(ParseJsonBody(JsonRequest("{\"name\":\"\xff\xfe\"}"))),
            ErrorCode::kBadInputText);
}

// A relayed body (chat completions, embeddings) is read in any case and goes on in one spelling.
TEST(SpellKeys, KeysEqualButForCaseTakeTheGivenSpellingAndKeepTheirValues) {
  auto body =
      boost::json::parse(R"({"Model":"a","MESSAGES":[1],"user":"u","Stream":true})").as_object();
  SpellKeys(body, {"model", "messages", "stream"});
  EXPECT_EQ(boost::json::serialize(body),
            R"({"model":"a","messages":[1],"user":"u","stream":true})");
}

TEST(SpellKeys, ANameInSeveralSpellingsKeepsItsOwnSpellingElseTheFirst) {
  auto body = boost::json::parse(R"({"Model":"a","model":"b","MODEL":"c"})").as_object();
  SpellKeys(body, {"model"});
  EXPECT_EQ(boost::json::serialize(body), R"({"model":"b"})");
  body = boost::json::parse(R"({"MODEL":"c","Model":"a"})").as_object();
  SpellKeys(body, {"model"});
  EXPECT_EQ(boost::json::serialize(body), R"({"model":"c"})");
}

TEST(BodyReader, KeysAreCaseInsensitiveAndTextIsTrimmed) {
  auto body = ParseJsonBody(JsonRequest(R"({"Name":"  Support  ","DESCRIPTION":"d"})"));
  ASSERT_TRUE(body);
  BodyReader reader(*body);
  EXPECT_EQ(reader.Text("name", 100, true), "Support");
  EXPECT_EQ(reader.Text("description", 100, false), "d");
  EXPECT_TRUE(reader.Finish());
}

TEST(BodyReader, CollectsEveryProblemWithItsField) {
  auto body =
      ParseJsonBody(JsonRequest(R"({"name":"   ","description":5,"administratorUserEmail":"nope",
                      "status":"paused","graceSeconds":90000})"));
  ASSERT_TRUE(body);
  BodyReader reader(*body);
  reader.Text("name", 100, true);
  reader.Text("description", 100, false);
  reader.Email("administratorUserEmail");
  reader.Status("status");
  reader.Integer("graceSeconds", 0, 86400);
  auto finished = reader.Finish();
  ASSERT_FALSE(finished);
  std::vector<std::string> descriptions;
  for (const auto& item : finished.error().items) descriptions.push_back(DescriptionOf(item));
  EXPECT_EQ(descriptions,
            (std::vector<std::string>{
                "Field name is required", "Field description does not match the specified pattern",
                "Field administratorUserEmail does not match the specified pattern",
                "Field status does not match the specified pattern",
                "Field graceSeconds is out of range"}));
}

TEST(BodyReader, ARequiredNumberIsMissingWhenAbsentOrNullInAnyCaseOfItsKey) {
  auto body = ParseJsonBody(JsonRequest(R"({"HardLimit":100,"softLimit":null})"));
  ASSERT_TRUE(body);
  BodyReader reader(*body);
  EXPECT_EQ(reader.Number("hardLimit", 0, 1000, true), 100.0);
  EXPECT_EQ(reader.Number("softLimit", 0, 1000, true), std::nullopt);
  EXPECT_EQ(reader.Number("other", 0, 1000, true), std::nullopt);
  EXPECT_EQ(reader.Number("optional", 0, 1000), std::nullopt);
  auto finished = reader.Finish();
  ASSERT_FALSE(finished);
  std::vector<std::string> descriptions;
  for (const auto& item : finished.error().items) descriptions.push_back(DescriptionOf(item));
  EXPECT_EQ(descriptions,
            (std::vector<std::string>{"Field softLimit is required", "Field other is required"}));
}

TEST(BodyReader, LengthIsCountedInCodePoints) {
  std::string hundred;
  for (int i = 0; i < 100; ++i) hundred += "\xc3\xa9";  // é
  auto body = ParseJsonBody(JsonRequest("{\"name\":\"" + hundred + "\"}"));
  ASSERT_TRUE(body);
  BodyReader reader(*body);
  EXPECT_TRUE(reader.Text("name", 100, true).has_value());
  EXPECT_FALSE(reader.Text("name", 99, true).has_value());
}

TEST(QueryParams, NamesAreCaseInsensitiveAndValuesDecoded) {
  QueryParams params("AssistantName=a%20b&pageSize=5&name=x+y&empty");
  EXPECT_EQ(params.Get("assistantname"), "a b");
  EXPECT_EQ(params.Get("NAME"), "x y");
  EXPECT_EQ(params.Get("empty"), "");
  EXPECT_FALSE(params.Get("missing"));
  EXPECT_EQ(*params.Integer("PageSize", 20, 1, 500), 5);
  EXPECT_EQ(params.Integer("pageSize", 20, 1, 4).error().code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(QueryParams("pageSize=x").Integer("pageSize", 20, 1, 500).error().code(),
            ErrorCode::kPattern);
  EXPECT_EQ(*QueryParams("orderKey=LASTUSEDAT").Choice("orderKey", {"name", "lastUsedAt"}, 0), 1u);
}

// Issue 12, item 7: a control character in a filter is 400 id 11, never a truncated match.
TEST(CheckQueryText, ControlCharactersInAQueryParameterAreId11NamingIt) {
  for (const char* query :
       {"name=a%00b", "name=a%0Ab", "name=%1F", "name=a%7Fb", "name=%C2%85", "name=x\x01y"}) {
    auto checked = CheckQueryText(query);
    ASSERT_FALSE(checked) << query;
    EXPECT_EQ(checked.error().code(), ErrorCode::kPattern) << query;
    EXPECT_EQ(checked.error().items.front().field, "name") << query;
  }
}

TEST(CheckQueryText, InvalidUtf8InAQueryParameterIsId11) {
  auto checked = CheckQueryText("pageSize=5&projectName=%FF%FE");
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().items.front().field, "projectName");
  EXPECT_EQ(CheckQueryText("%00=1").error().items.front().field, "query");
}

TEST(CheckQueryText, PrintableTextIsAccepted) {
  for (const char* query : {"", "name=abc", "name=a%20b&x=%C3%A9t%C3%A9", "name=a+b%25",
                            "q=%E2%9C%93", "name=%27%3B%20DROP%20TABLE%20x%3B--"}) {
    EXPECT_TRUE(CheckQueryText(query)) << query;
  }
}

}  // namespace gatehouse
