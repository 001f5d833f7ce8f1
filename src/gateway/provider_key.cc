#include "gateway/provider_key.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <cctype>
#include <cstdlib>

namespace gatehouse {
namespace {

// Whether `word` looks like a credential: an OpenAI-style key (`sk-` where the word, or a part
// of it after a sign, starts; not inside "task-id"), a masked one (letters or digits beside
// `***`), eight characters of `key`, or a key shorter than that where it stands on its own
// (`key=none,`; not the `x` of "max_tokens").
bool LooksLikeKey(std::string_view word, std::string_view key) {
  const auto alphanumeric = [](char c) { return std::isalnum(static_cast<unsigned char>(c)); };
  for (auto at = word.find("sk-"); at != std::string_view::npos; at = word.find("sk-", at + 1)) {
    if (at == 0 || !alphanumeric(word[at - 1])) return true;
  }
  if (word.find("***") != std::string_view::npos &&
      std::any_of(word.begin(), word.end(), alphanumeric)) {
    return true;
  }
  if (key.size() >= 8) {
    for (std::size_t i = 0; i + 8 <= key.size(); ++i) {
      if (word.find(key.substr(i, 8)) != std::string_view::npos) return true;
    }
    return false;
  }
  for (auto at = key.empty() ? std::string_view::npos : word.find(key);
       at != std::string_view::npos; at = word.find(key, at + 1)) {
    const std::size_t end = at + key.size();
    if ((at == 0 || !alphanumeric(word[at - 1])) &&
        (end == word.size() || !alphanumeric(word[end]))) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string ProviderKey(const ProviderConfig& provider) {
  if (provider.api_key_env.empty()) return {};
  const char* key = std::getenv(provider.api_key_env.c_str());
  return key ? std::string(key) : std::string();
}

std::string WithoutKey(std::string_view text, const std::string& key) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find_first_of(" \t\n\"'", start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(start, end - start);
    out += LooksLikeKey(word, key) ? std::string_view("[redacted]") : word;
    if (end < text.size()) out += text[end];
    start = end + 1;
  }
  return out;
}

std::string ProviderMessage(const std::string& body) {
  boost::system::error_code ec;
  auto parsed = boost::json::parse(body, ec);
  if (ec || !parsed.is_object()) return {};
  const auto* error = parsed.as_object().if_contains("error");
  if (error && error->is_string()) return std::string(error->as_string());
  if (error && error->is_object()) {
    const auto* message = error->as_object().if_contains("message");
    if (message && message->is_string()) return std::string(message->as_string());
  }
  const auto* message = parsed.as_object().if_contains("message");
  if (message && message->is_string()) return std::string(message->as_string());
  return {};
}

}  // namespace gatehouse
