#include "gateway/metering.h"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::size_t kMaxEventLine = 1 << 20;
// A usage count above this is not believed (no model reads or writes that much in one call).
constexpr std::int64_t kMaxUsageTokens = 100'000'000;

}  // namespace

void AddCosts(boost::json::object& usage, const ChatCost& cost) {
  usage["prompt_cost"] = cost.prompt;
  usage["completion_cost"] = cost.completion;
  usage["total_cost"] = cost.total;
  usage["currency"] = "USD";
}

std::optional<TokenUsage> ReadUsage(const boost::json::object& response) {
  const auto* usage = response.if_contains("usage");
  if (!usage || !usage->is_object()) return std::nullopt;
  constexpr std::int64_t kAbsent = -1;
  // A count: kAbsent when the key is missing, nullopt when it is not a believable whole number.
  auto count = [&](const char* key) -> std::optional<std::int64_t> {
    const auto* value = usage->as_object().if_contains(key);
    if (!value) return kAbsent;
    if (value->is_int64() && value->as_int64() >= 0 && value->as_int64() <= kMaxUsageTokens) {
      return value->as_int64();
    }
    if (value->is_uint64() && value->as_uint64() <= static_cast<std::uint64_t>(kMaxUsageTokens)) {
      return static_cast<std::int64_t>(value->as_uint64());
    }
    return std::nullopt;
  };
  const auto prompt = count("prompt_tokens");
  const auto completion = count("completion_tokens");
  const auto total = count("total_tokens");
  if (!prompt || !completion || !total || *prompt == kAbsent) return std::nullopt;
  if (*completion != kAbsent) return TokenUsage{*prompt, *completion};
  // An embeddings answer names no completion: its total is its prompt.
  if (*total == kAbsent || *total < *prompt) return std::nullopt;
  return TokenUsage{*prompt, *total - *prompt};
}

std::string SseAccumulator::Feed(std::string_view bytes) {
  pending_ += bytes;
  std::string relay;
  std::size_t start = 0;
  for (std::size_t end; (end = pending_.find('\n', start)) != std::string::npos; start = end + 1) {
    std::string_view line(pending_.data() + start, end - start);
    const bool crlf = !line.empty() && line.back() == '\r';
    if (crlf) line.remove_suffix(1);
    relay += Line(line);
    relay += crlf ? "\r\n" : "\n";
  }
  pending_.erase(0, start);
  // A line this long is not an event worth metering: relay it as it is, keep memory bounded.
  if (pending_.size() > kMaxEventLine) relay += TakeRest();
  return relay;
}

std::string SseAccumulator::Finish() {
  if (pending_.empty()) return {};
  return Feed("\n") + "\n";
}

std::string SseAccumulator::Line(std::string_view line) {
  std::string_view data = line;
  if (!data.starts_with("data:")) return std::string(line);
  data.remove_prefix(5);
  while (!data.empty() && data.front() == ' ') data.remove_prefix(1);
  if (data == "[DONE]") {
    done_ = true;
    return std::string(line);
  }
  boost::system::error_code ec;
  unsigned char arena[4096];  // most events fit: no heap allocation per event
  boost::json::monotonic_resource memory(arena, sizeof arena);
  auto event = boost::json::parse(data, ec, &memory);
  if (ec || !event.is_object()) return std::string(line);
  boost::json::object& object = event.as_object();
  if (const auto* choices = object.if_contains("choices"); choices && choices->is_array()) {
    for (const auto& choice : choices->as_array()) {
      if (!choice.is_object()) continue;
      const auto* delta = choice.as_object().if_contains("delta");
      if (!delta || !delta->is_object()) continue;
      const auto* content = delta->as_object().if_contains("content");
      if (!content || !content->is_string()) continue;
      const std::string_view text(content->as_string());
      content_code_points_ += CodePointCount(text);
      if (content_.size() < kMaxRecordedOutput) {
        content_.append(text.substr(0, kMaxRecordedOutput - content_.size()));
      }
    }
  }
  const auto* usage_value = object.if_contains("usage");
  if (!usage_value || !usage_value->is_object()) return std::string(line);
  auto usage = ReadUsage(object);
  boost::json::object& fields = object["usage"].as_object();
  if (!usage) {
    if (!estimate_prompt_) return std::string(line);
    // Not believable: the client gets the estimate the record keeps, as with a whole answer.
    usage = TokenUsage{estimate_prompt_(), EstimatedCompletionTokens()};
    fields["prompt_tokens"] = usage->prompt;
    fields["completion_tokens"] = usage->completion;
    fields["total_tokens"] = usage->prompt + usage->completion;
  }
  usage_ = usage;
  AddCosts(fields, PriceOf(price_, usage->prompt, usage->completion));
  return "data: " + boost::json::serialize(event);
}

}  // namespace gatehouse
