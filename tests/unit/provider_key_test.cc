#include "gateway/provider_key.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace gatehouse {

TEST(WithoutKey, AProviderMessageNeverCarriesTheKeyOrAnEightCharacterPartOfIt) {
  const std::string key = "Zq8pLm3nVv7rTt2wXy4u";
  EXPECT_EQ(WithoutKey("Incorrect API key provided: " + key + ".", key),
            "Incorrect API key provided: [redacted]");
  EXPECT_EQ(WithoutKey("key ending Vv7rTt2w is invalid", key), "key ending [redacted] is invalid");
  EXPECT_EQ(WithoutKey("quoted \"" + key.substr(5, 9) + "\" here", key),
            "quoted \"[redacted]\" here");
  EXPECT_EQ(WithoutKey("seven Lm3nVv7 stays", key), "seven Lm3nVv7 stays");
}

TEST(WithoutKey, OpenAiStyleAndMaskedKeysGoWhoeverTheirOwner) {
  EXPECT_EQ(WithoutKey("Incorrect API key provided: sk-proj-abc123.\nSee docs", ""),
            "Incorrect API key provided: [redacted]\nSee docs");
  EXPECT_EQ(WithoutKey("key=sk-abc; retry", ""), "[redacted] retry");
  EXPECT_EQ(WithoutKey("Bearer ab12***9f\trejected", ""), "Bearer [redacted]\trejected");
  EXPECT_EQ(WithoutKey("task-id 42 at *** mark", ""), "task-id 42 at *** mark");
}

TEST(WithoutKey, AShortKeyGoesOnlyWhereItStandsOnItsOwn) {
  EXPECT_EQ(WithoutKey("key=none, retry", "none"), "[redacted] retry");
  EXPECT_EQ(WithoutKey("nonexistent model", "none"), "nonexistent model");
  EXPECT_EQ(WithoutKey("max_tokens too large", "x"), "max_tokens too large");
}

TEST(ProviderMessage, ReadsTheMessageOfEveryOpenAiErrorShape) {
  EXPECT_EQ(ProviderMessage(R"({"error":{"message":"model not found","code":404}})"),
            "model not found");
  EXPECT_EQ(ProviderMessage(R"({"error":"bad request"})"), "bad request");
  EXPECT_EQ(ProviderMessage(R"({"message":"quota"})"), "quota");
  EXPECT_EQ(ProviderMessage(R"({"error":{"code":400}})"), "");
  EXPECT_EQ(ProviderMessage("<html>Bad Gateway</html>"), "");
}

TEST(ProviderKey, IsReadFromTheProvidersEnvironmentVariableAtEachCall) {
  ProviderConfig provider{"openai", "http://x", "GATEHOUSE_TEST_PROVIDER_KEY", 1000, {}};
  ::unsetenv("GATEHOUSE_TEST_PROVIDER_KEY");
  EXPECT_EQ(ProviderKey(provider), "");
  ::setenv("GATEHOUSE_TEST_PROVIDER_KEY", "k-1", 1);
  EXPECT_EQ(ProviderKey(provider), "k-1");
  ::setenv("GATEHOUSE_TEST_PROVIDER_KEY", "k-2", 1);
  EXPECT_EQ(ProviderKey(provider), "k-2");
  ::unsetenv("GATEHOUSE_TEST_PROVIDER_KEY");
  ProviderConfig keyless{"local", "http://x", "", 1000, {}};
  EXPECT_EQ(ProviderKey(keyless), "");
}

}  // namespace gatehouse
