#include "gateway/metering.h"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::size_t kMaxEventLine = 1 << 20;
// A usage count above this is not believed (no model reads or writes that much in one call).
constexpr std::int64_t kMaxUsageTokens = 100'000'000;

// The event a provider adds for stream_options.include_usage: no choices, only the usage.
bool IsUsageOnly(const boost::json::object& event) {
  const auto* choices = event.if_contains("choices");
  const auto* usage = event.if_contains("usage");
  return choices && choices->is_array() && choices->as_array().empty() && usage &&
         usage->is_object();
}

}  // namespace

std::size_t OtherGeneratedCodePoints(const boost::json::object& message) {
  std::size_t count = 0;
  auto text = [&count](const boost::json::object& object, std::string_view key) {
    const auto* value = object.if_contains(key);
    if (value && value->is_string()) count += CodePointCount(value->as_string());
  };
  auto call = [&text](const boost::json::value& value) {
    if (!value.is_object()) return;
    text(value.as_object(), "name");
    text(value.as_object(), "arguments");
  };
  text(message, "refusal");
  text(message, "reasoning_content");
  if (const auto* function = message.if_contains("function_call")) call(*function);
  if (const auto* tools = message.if_contains("tool_calls"); tools && tools->is_array()) {
    for (const auto& tool : tools->as_array()) {
      if (const auto* function =
              tool.is_object() ? tool.as_object().if_contains("function") : nullptr) {
        call(*function);
      }
    }
  }
  return count;
}

void AddCosts(boost::json::object& usage, const ChatCost& cost) {
  usage["prompt_cost"] = cost.prompt;
  usage["completion_cost"] = cost.completion;
  usage["total_cost"] = cost.total;
  usage["currency"] = "USD";
}

UsageReading ReadUsageOf(const boost::json::object& response, UsageShape shape) {
  const auto* usage = response.if_contains("usage");
  if (!usage || !usage->is_object()) return {UsageVerdict::kAbsent, {}};
  const boost::json::object& fields = usage->as_object();
  bool invalid = false;
  // A count when it is there and believable; nullopt when it is missing (or is not, `invalid`).
  auto count = [&](const char* key) -> std::optional<std::int64_t> {
    const auto* value = fields.if_contains(key);
    if (!value || value->is_null()) return std::nullopt;
    if (value->is_int64() && value->as_int64() >= 0 && value->as_int64() <= kMaxUsageTokens) {
      return value->as_int64();
    }
    if (value->is_uint64() && value->as_uint64() <= static_cast<std::uint64_t>(kMaxUsageTokens)) {
      return static_cast<std::int64_t>(value->as_uint64());
    }
    // A whole number written with a fraction (12.0) is still one.
    if (value->is_double() && value->as_double() >= 0 &&
        value->as_double() <= static_cast<double>(kMaxUsageTokens) &&
        std::trunc(value->as_double()) == value->as_double()) {
      return static_cast<std::int64_t>(value->as_double());
    }
    invalid = true;
    return std::nullopt;
  };
  // Every count the provider names is judged, the ones the meter does not need too: a usage
  // relayed to the client carries them all.
  const auto prompt = count("prompt_tokens");
  auto completion = count("completion_tokens");
  const auto total = count("total_tokens");
  if (invalid) return {UsageVerdict::kUnbelievable, {}};
  if (shape == UsageShape::kPromptOnly) {
    // An embeddings answer: its prompt, or its total when that is all it names.
    const auto counted = prompt ? prompt : total;
    if (!counted) return {UsageVerdict::kIncomplete, {}};
    return {UsageVerdict::kBelievable, {*counted, 0}};
  }
  // Without completion_tokens the total tells them, when it is at least the prompt.
  if (!completion && prompt && total && *total >= *prompt) completion = *total - *prompt;
  if (!prompt || !completion) return {UsageVerdict::kIncomplete, {}};
  return {UsageVerdict::kBelievable, {*prompt, *completion}};
}

std::optional<TokenUsage> ReadUsage(const boost::json::object& response, UsageShape shape) {
  const UsageReading reading = ReadUsageOf(response, shape);
  if (reading.verdict != UsageVerdict::kBelievable) return std::nullopt;
  return reading.usage;
}

std::string SseAccumulator::Feed(std::string_view bytes) {
  pending_ += bytes;
  std::string relay;
  std::size_t start = 0;
  // What an earlier Feed left holds no line break: a long line arriving in many small reads is
  // scanned once, not once per read.
  for (std::size_t end;
       (end = pending_.find('\n', std::max(start, unscanned_))) != std::string::npos;
       start = end + 1) {
    std::string_view line(pending_.data() + start, end - start);
    const bool crlf = !line.empty() && line.back() == '\r';
    if (crlf) line.remove_suffix(1);
    if (dropping_) {  // the rest of an event that is not relayed, up to its blank line
      if (line.empty()) dropping_ = false;
      continue;
    }
    std::string relayed = Line(line);
    if (dropping_) continue;
    relay += relayed;
    relay += crlf ? "\r\n" : "\n";
    relayed_ = line.empty() ? Relayed::kEventEnd : Relayed::kInEvent;
  }
  pending_.erase(0, start);
  // A line this long is not an event worth metering: relay it as it is, keep memory bounded.
  if (pending_.size() > kMaxEventLine) {
    relay += std::exchange(pending_, {});
    relayed_ = Relayed::kInLine;
  }
  unscanned_ = pending_.size();
  return relay;
}

std::string SseAccumulator::Finish() {
  std::string relay;
  if (!pending_.empty()) relay = Feed("\n");
  return relay + EndEvent();
}

std::string SseAccumulator::Abandon() {
  pending_.clear();
  unscanned_ = 0;
  return EndEvent();
}

std::string SseAccumulator::EndEvent() {
  const Relayed relayed = std::exchange(relayed_, Relayed::kEventEnd);
  switch (relayed) {
    case Relayed::kEventEnd:
      return {};
    case Relayed::kInEvent:
      return "\n";
    case Relayed::kInLine:
      return "\n\n";
  }
  return {};
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
  // After [DONE] the answer is whole: nothing that follows fails it.
  if (const auto* error = object.if_contains("error"); error && !error->is_null() && !done_) {
    failed_ = true;
  }
  if (const auto* choices = object.if_contains("choices"); choices && choices->is_array()) {
    for (const auto& choice : choices->as_array()) {
      if (!choice.is_object()) continue;
      const auto* delta = choice.as_object().if_contains("delta");
      if (!delta || !delta->is_object()) continue;
      content_code_points_ += OtherGeneratedCodePoints(delta->as_object());
      const auto* content = delta->as_object().if_contains("content");
      if (!content || !content->is_string()) continue;
      const std::string_view text(content->as_string());
      content_code_points_ += CodePointCount(text);
      if (!content_full_) {
        // Cut between code points: the record's text stays valid UTF-8 (PostgreSQL refuses any
        // other, and exports promise it).
        const std::string_view kept = Utf8Prefix(text, kMaxRecordedOutput - content_.size());
        content_.append(kept);
        content_full_ = kept.size() < text.size();
      }
    }
  }
  const UsageReading reading = ReadUsageOf(object);
  TokenUsage usage = reading.usage;
  if (reading.verdict == UsageVerdict::kBelievable) usage_ = usage;
  if (!relay_usage_only_ && relayed_ == Relayed::kEventEnd && IsUsageOnly(object)) {
    dropping_ = true;  // metered, not relayed
    return {};
  }
  if (reading.verdict == UsageVerdict::kUnbelievable && estimate_prompt_) {
    // The client gets the estimate instead, as with a whole answer. usage_ stays unset: the
    // record estimates over the whole answer, which matches this when (as usual) the usage
    // event comes after the text.
    if (!prompt_estimate_) prompt_estimate_ = estimate_prompt_();
    usage = TokenUsage{*prompt_estimate_, EstimatedCompletionTokens()};
    boost::json::object& fields = object["usage"].as_object();
    fields["prompt_tokens"] = usage.prompt;
    fields["completion_tokens"] = usage.completion;
    fields["total_tokens"] = usage.prompt + usage.completion;
  } else if (reading.verdict != UsageVerdict::kBelievable) {
    // No usage, or one that names too little to meter (`usage: {}` on the chunks before the
    // last, as some providers send): relayed as it is.
    return std::string(line);
  }
  if (price_) {
    AddCosts(object["usage"].as_object(), PriceOf(price_, usage.prompt, usage.completion));
  } else if (reading.verdict == UsageVerdict::kBelievable) {
    return std::string(line);  // nothing to add
  }
  return "data: " + boost::json::serialize(event);
}

}  // namespace gatehouse
