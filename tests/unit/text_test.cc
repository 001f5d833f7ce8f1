#include "core/text.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>
#include <string>

namespace gatehouse {
namespace {

// `text` written as a quoted JSON string by AppendJsonEscaped.
std::string Quoted(const std::string& text) {
  std::string json = "\"";
  AppendJsonEscaped(json, text);
  json += '"';
  return json;
}

// `text` written by AppendJsonEscaped, then read back by Boost.JSON.
std::string ReadBack(const std::string& text) {
  return std::string(boost::json::parse(Quoted(text)).as_string());
}

TEST(Utf8Prefix, CutsBetweenCodePointsNeverInsideOne) {
  const std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";  // a é € 😀 z: 1+2+3+4+1 bytes
  const std::size_t expected[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11, 11};
  for (std::size_t max = 0; max <= text.size() + 1; ++max) {
    const std::string_view prefix = Utf8Prefix(text, max);
    EXPECT_EQ(prefix.size(), expected[max]) << "at most " << max << " bytes";
    EXPECT_TRUE(IsValidUtf8(prefix)) << "at most " << max << " bytes";
  }
}

TEST(Utf8CodePointLength, IsTheLengthOfAValidCodePointAndZeroForAnythingElse) {
  EXPECT_EQ(Utf8CodePointLength("a"), 1u);
  EXPECT_EQ(Utf8CodePointLength("\xc3\xa9x"), 2u);         // é
  EXPECT_EQ(Utf8CodePointLength("\xe2\x82\xac"), 3u);      // €
  EXPECT_EQ(Utf8CodePointLength("\xf0\x9f\x98\x80"), 4u);  // 😀
  EXPECT_EQ(Utf8CodePointLength(""), 0u);
  EXPECT_EQ(Utf8CodePointLength("\x80"), 0u);              // a continuation byte alone
  EXPECT_EQ(Utf8CodePointLength("\xc3"), 0u);              // cut short
  EXPECT_EQ(Utf8CodePointLength("\xe2\x82"), 0u);          // cut short
  EXPECT_EQ(Utf8CodePointLength("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(Utf8CodePointLength("\xed\xa0\x80"), 0u);      // a surrogate, U+D800
  EXPECT_EQ(Utf8CodePointLength("\xf4\x90\x80\x80"), 0u);  // past U+10FFFF
  EXPECT_EQ(Utf8CodePointLength("\xff"), 0u);
}

TEST(JsonEscaping, ValidUtf8ReadsBackAsItself) {
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls += static_cast<char>(c);
  for (const std::string& text :
       {std::string(), std::string("plain"), std::string("\"quoted\" and \\back\\slashed\\"),
        controls, std::string("tab\there\r\nnew line\x7f"), std::string("caf\xc3\xa9 \xe2\x82\xac"),
        std::string("\xf0\x9f\x98\x80 at the end \""), std::string(1, '\0')}) {
    EXPECT_EQ(ReadBack(text), text);
  }
}

TEST(JsonEscaping, InvalidUtf8HasEveryByteFrom0x80Escaped) {
  std::string out;
  AppendJsonEscaped(out, "a\xff\"b\xc3\xa9\n");
  EXPECT_EQ(out, "a\\u00ff\\\"b\\u00c3\\u00a9\\n");
}

TEST(JsonEscaping, AnyBytesMakeValidJsonAndValidUtf8ReadsBack) {
  std::mt19937 random(7);
  std::uniform_int_distribution<int> byte(0, 255), length(0, 40);
  for (int round = 0; round < 5000; ++round) {
    std::string text;
    for (int n = length(random); n > 0; --n) {
      // Mostly ASCII, as names are, with quotes, backslashes, controls and high bytes among them.
      const int b = byte(random);
      text += static_cast<char>(b < 160 ? 0x20 + b % 0x5f : b);
    }
    if (round % 3 == 0) text += "\xc3\xa9\"\\\x01";
    const std::string json = Quoted(text);
    boost::system::error_code ec;
    const auto value = boost::json::parse(json, ec);
    ASSERT_FALSE(ec) << json;
    if (IsValidUtf8(text)) {
      EXPECT_EQ(std::string(value.as_string()), text);
    }
  }
}

}  // namespace
}  // namespace gatehouse
