#include "core/token_permissions.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

TEST(ModelPatternTest, StarMatchesAnyRunIncludingNoneAndSlashes) {
  EXPECT_TRUE(ModelPatternMatches("openai/gpt-4o*", "openai/gpt-4o"));
  EXPECT_TRUE(ModelPatternMatches("openai/gpt-4o*", "openai/gpt-4o-mini"));
  EXPECT_FALSE(ModelPatternMatches("openai/gpt-4o*", "openai/gpt-4"));
  EXPECT_FALSE(ModelPatternMatches("openai/gpt-4o*", "azure/gpt-4o"));
  EXPECT_TRUE(ModelPatternMatches("openai/*", "openai/o1"));
  EXPECT_TRUE(ModelPatternMatches("*/gpt-4o-mini", "azure/gpt-4o-mini"));
  EXPECT_TRUE(ModelPatternMatches("*", "anything/at-all"));
  EXPECT_TRUE(ModelPatternMatches("o*i/*-mini", "openai/gpt-4o-mini"));
  EXPECT_FALSE(ModelPatternMatches("o*i/*-mini", "openai/gpt-4o-mini-2"));
}

TEST(ModelPatternTest, WithoutStarOnlyTheExactIdMatchesCaseSensitively) {
  EXPECT_TRUE(ModelPatternMatches("openai/gpt-4o", "openai/gpt-4o"));
  EXPECT_FALSE(ModelPatternMatches("openai/gpt-4o", "openai/gpt-4o-mini"));
  EXPECT_FALSE(ModelPatternMatches("openai/gpt-4o", "OpenAI/gpt-4o"));
  EXPECT_FALSE(ModelPatternMatches("openai/gpt-4o", ""));
}

TEST(ModelPatternTest, ManyStarsStayLinear) {
  const std::string pattern(60, '*');
  EXPECT_FALSE(ModelPatternMatches(pattern + "b", std::string(5000, 'a')));
}

TEST(TokenPermissionsTest, AbsentListAllowsEverythingEmptyListNothing) {
  EXPECT_EQ(CompiledPermissions::Compile(TokenPermissions{}), nullptr);
  TokenPermissions empty;
  empty.allowed_models = std::vector<std::string>{};
  auto compiled = CompiledPermissions::Compile(empty);
  ASSERT_NE(compiled, nullptr);
  EXPECT_FALSE(compiled->AllowsModel("openai/gpt-4o"));
  EXPECT_TRUE(compiled->AllowsAssistant("support"));
  EXPECT_TRUE(compiled->AllowsAddress("203.0.113.1"));
}

TEST(TokenPermissionsTest, CompiledListsAllowExactNamesPatternsAndBlocks) {
  TokenPermissions permissions;
  permissions.allowed_models = std::vector<std::string>{"openai/gpt-4o*", "azure/o1"};
  permissions.allowed_assistants = std::vector<std::string>{"support", "sales*"};
  permissions.allowed_cidrs = std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"};
  auto compiled = CompiledPermissions::Compile(permissions);
  ASSERT_NE(compiled, nullptr);
  EXPECT_TRUE(compiled->AllowsModel("openai/gpt-4o-mini"));
  EXPECT_TRUE(compiled->AllowsModel("azure/o1"));
  EXPECT_FALSE(compiled->AllowsModel("azure/o1-mini"));
  EXPECT_TRUE(compiled->AllowsAssistant("support"));
  EXPECT_FALSE(compiled->AllowsAssistant("Support"));
  // Assistant names are names, not patterns: '*' is an ordinary character there.
  EXPECT_FALSE(compiled->AllowsAssistant("sales-eu"));
  EXPECT_TRUE(compiled->AllowsAssistant("sales*"));
  EXPECT_TRUE(compiled->AllowsAddress("10.2.3.4"));
  EXPECT_TRUE(compiled->AllowsAddress("::ffff:10.2.3.4"));
  EXPECT_TRUE(compiled->AllowsAddress("2001:db8::9"));
  EXPECT_FALSE(compiled->AllowsAddress("127.0.0.1"));
  EXPECT_FALSE(compiled->AllowsAddress(""));
  EXPECT_FALSE(compiled->AllowsAddress("not-an-address"));
}

TEST(TokenPermissionsTest, ValidationRejectsBadEntriesWith400AndCanonicalisesCidrs) {
  EXPECT_EQ(ValidModelPatterns({"openai"}).error().code(), ErrorCode::kPattern);
  EXPECT_EQ(ValidModelPatterns({"openai/"}).error().code(), ErrorCode::kPattern);
  EXPECT_EQ(ValidModelPatterns({"open ai/x"}).error().code(), ErrorCode::kPattern);
  EXPECT_EQ(ValidModelPatterns({std::string(201, 'a') + "/b"}).error().code(),
            ErrorCode::kOutOfRange);
  EXPECT_EQ(ValidModelPatterns(std::vector<std::string>(101, "a/b")).error().code(),
            ErrorCode::kOutOfRange);
  EXPECT_EQ(*ValidModelPatterns({"a/b", "*", "a/b"}), (std::vector<std::string>{"a/b", "*"}));
  EXPECT_EQ(ValidAssistantNames({" "}).error().code(), ErrorCode::kPattern);
  EXPECT_EQ(ValidCidrs({"10.0.0.0/33"}).error().code(), ErrorCode::kPattern);
  EXPECT_EQ(ValidCidrs({"[::1]"}).error().code(), ErrorCode::kPattern);
  EXPECT_EQ(ValidCidrs({"10.0.0.0/33"}).error().items.front().field, "allowedCidrs");
  EXPECT_EQ(*ValidCidrs({"10.1.2.3/8", "10.0.0.0/8", "::1"}),
            (std::vector<std::string>{"10.0.0.0/8", "::1/128"}));
}

TEST(TokenPermissionsTest, StoredFormRoundTripsAndEmptyMeansUnrestricted) {
  TokenPermissions permissions;
  permissions.allowed_models = std::vector<std::string>{};
  permissions.allowed_cidrs = std::vector<std::string>{"10.0.0.0/8"};
  EXPECT_EQ(PermissionsFromJson(PermissionsToJson(permissions)), permissions);
  EXPECT_EQ(PermissionsToJson(TokenPermissions{}), "");
  EXPECT_TRUE(PermissionsFromJson("").unrestricted());
}

}  // namespace
}  // namespace gatehouse
