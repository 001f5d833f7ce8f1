#include "gateway/metering.h"

#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "core/text.h"

namespace gatehouse {
namespace {

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

bool HasCostFields(const boost::json::object& usage) {
  return usage.contains("prompt_cost") || usage.contains("completion_cost") ||
         usage.contains("total_cost") || usage.contains("currency");
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

std::optional<SseAccumulator::Line> SseAccumulator::NextLine() {
  const std::size_t at = pending_.find_first_of("\r\n", searched_);
  if (at == std::string::npos) {
    searched_ = pending_.size();
    return std::nullopt;
  }
  std::size_t next = at + 1;
  if (pending_[at] == '\r') {
    if (next == pending_.size()) {
      after_cr_ = true;  // a CRLF's first half, or a line break of its own: the next byte tells
    } else if (pending_[next] == '\n') {
      ++next;
    }
  }
  const Line line{line_start_, at, next};
  line_start_ = searched_ = next;
  return line;
}

void SseAccumulator::TakeLineFeed(std::string& relay) {
  if (line_start_ == event_start_) {
    // The line went already, relayed (a comment, an event its blank line dispatched) or dropped
    // with its event: so does its line feed. Straight after the CR relayed it completes that
    // CRLF, so not through Relay(), which keeps the two apart.
    if (relayed_cr_ && !dropped_last_) {
      relay += '\n';
      relayed_cr_ = false;
    }
    ++event_start_;
  } else if (!data_lines_.empty() && data_lines_.back().next + event_start_ == line_start_) {
    ++data_lines_.back().next;  // a data line's break: a rewritten event relays it whole
  }
  line_start_ = searched_ = line_start_ + 1;
}

std::string SseAccumulator::Feed(std::string_view bytes) {
  if (overflowed_) return {};
  pending_ += bytes;
  if (!bom_checked_) {
    // A byte order mark may open the stream (the standard skips it); its start holds no line
    // break, so nothing is lost by waiting for the rest of it (Finish ends the wait).
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (pending_.size() < kBom.size() && kBom.starts_with(pending_)) return {};
    bom_checked_ = true;
    if (pending_.starts_with(kBom)) {
      pending_.erase(0, 3);
      line_start_ = searched_ = 0;
    }
  }
  std::string relay;
  if (after_cr_ && line_start_ < pending_.size()) {
    after_cr_ = false;
    if (pending_[line_start_] == '\n') TakeLineFeed(relay);
  }
  while (const auto line = NextLine()) Hold(*line, relay);
  if (pending_.size() - event_start_ + data_lines_.size() * sizeof(DataLine) > kMaxHeldEvent) {
    // No event of a chat stream is this long: what it carries could be neither metered nor
    // redacted, so it is not relayed, and the stream ends here (the caller ends the call).
    overflowed_ = true;
    Reset();
    std::string().swap(pending_);  // and the memory it grew
    std::vector<DataLine>().swap(data_lines_);
    return relay;
  }
  // Once per read: the bytes taken go, the held event moves to the front.
  pending_.erase(0, event_start_);
  line_start_ -= event_start_;
  searched_ -= event_start_;
  event_start_ = 0;
  // What a long event grew is given back once it has gone.
  if (pending_.capacity() > kKeptCapacity && pending_.size() < kKeptCapacity / 4) {
    pending_.shrink_to_fit();
  }
  if (data_lines_.capacity() * sizeof(DataLine) > kKeptCapacity && data_lines_.empty()) {
    std::vector<DataLine>().swap(data_lines_);
  }
  return relay;
}

void SseAccumulator::Hold(const Line& line, std::string& relay) {
  const std::string_view text(pending_.data() + line.start, line.end - line.start);
  if (text.empty()) return Dispatch(line.next, Ending::kBlankLine, relay);
  if (text.front() == ':') {
    // A comment before any field of the event (a keep-alive) is relayed at once.
    if (line.start == event_start_) {
      Relay(relay, std::string_view(pending_).substr(line.start, line.next - line.start));
      relayed_ = Relayed::kInEvent;
      event_start_ = line.next;
    }
    return;
  }
  const std::size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  std::size_t value = colon == std::string_view::npos ? line.end : line.start + colon + 1;
  if (value < line.end && pending_[value] == ' ') ++value;
  if (name == "event") {
    named_error_ = std::string_view(pending_).substr(value, line.end - value) == "error";
  } else if (name == "data") {
    data_lines_.push_back({line.start - event_start_, value - event_start_, line.end - event_start_,
                           line.next - event_start_});
  }
}

void SseAccumulator::Dispatch(std::size_t end, Ending ending, std::string& relay) {
  const std::string_view event(pending_.data() + event_start_, end - event_start_);
  const bool cut = ending == Ending::kCut;
  std::string rewritten;
  // A cut event with no data dispatches nothing: it goes.
  Fate fate = cut ? Fate::kDropped : Fate::kAsIs;
  if (data_lines_.size() == 1) {
    const DataLine& only = data_lines_.front();
    fate = Meter(event.substr(only.value, only.end - only.value), cut, rewritten);
  } else if (!data_lines_.empty()) {
    std::string joined;
    for (const DataLine& line : data_lines_) {
      if (&line != &data_lines_.front()) joined += '\n';
      joined.append(event.substr(line.value, line.end - line.value));
    }
    fate = Meter(joined, cut, rewritten);
  }
  if (fate == Fate::kAsIs) {
    Relay(relay, event);
  } else if (fate == Fate::kRewritten) {
    // The new data's lines where the first data line was; the event's other lines as they came.
    std::size_t at = 0;
    for (const DataLine& line : data_lines_) {
      Relay(relay, event.substr(at, line.start - at));
      if (&line == &data_lines_.front()) {
        // A line of its own for each line of the data (a redacted text may have several).
        const std::string_view line_break = event.substr(line.end, line.next - line.end);
        for (std::size_t from = 0;;) {
          const std::size_t to = rewritten.find('\n', from);
          Relay(relay, "data: ");
          Relay(relay, std::string_view(rewritten).substr(
                           from, to == std::string::npos ? std::string::npos : to - from));
          Relay(relay, line_break);
          if (to == std::string::npos) break;
          from = to + 1;
        }
      }
      at = line.next;
    }
    Relay(relay, event.substr(at));
  }
  if (fate != Fate::kDropped) {
    relayed_ = ending == Ending::kBlankLine ? Relayed::kEventEnd : Relayed::kInEvent;
  } else {
    dropped_last_ = true;
  }
  data_lines_.clear();
  named_error_ = false;
  event_start_ = end;
}

std::string SseAccumulator::Finish(bool cut) {
  std::string relay;
  if (line_start_ < pending_.size()) relay += Feed("\n");
  if (line_start_ > event_start_) {
    Dispatch(line_start_, cut ? Ending::kCut : Ending::kStreamEnd, relay);
  }
  relay += EndEvent();
  Reset();
  return relay;
}

std::string SseAccumulator::Abandon() {
  std::string relay;
  // The line after the last line break, if any, is cut.
  if (line_start_ > event_start_) Dispatch(line_start_, Ending::kCut, relay);
  relay += EndEvent();
  Reset();
  return relay;
}

void SseAccumulator::Reset() {
  pending_.clear();
  event_start_ = line_start_ = searched_ = 0;
  data_lines_.clear();
  named_error_ = after_cr_ = dropped_last_ = false;
}

void SseAccumulator::Relay(std::string& relay, std::string_view bytes) {
  if (bytes.empty()) return;
  dropped_last_ = false;
  // A CR relayed, then a line feed (a blank line once the lines between were left out of a
  // rewritten event): the client would read the two as one CRLF.
  if (relayed_cr_ && bytes.front() == '\n') relay += '\n';
  relay.append(bytes);
  relayed_cr_ = bytes.back() == '\r';
}

std::string SseAccumulator::EndEvent() {
  const Relayed relayed = std::exchange(relayed_, Relayed::kEventEnd);
  switch (relayed) {
    case Relayed::kEventEnd:
      return {};
    case Relayed::kInEvent:
      // After a CR, a line feed would only complete its CRLF: the blank line needs another.
      return relayed_cr_ ? "\n\n" : "\n";
  }
  return {};
}

namespace {

// A streamed choice without an index is the only one.
bool IsFirstChoice(const boost::json::object& choice) {
  const auto* index = choice.if_contains("index");
  return !index || (index->is_int64() && index->get_int64() == 0) ||
         (index->is_uint64() && index->get_uint64() == 0);
}

// Puts every text in `value` through `redact`; true when one changed.
bool Redact(boost::json::value& value, const std::function<std::string(std::string_view)>& redact) {
  bool changed = false;
  if (value.is_string()) {
    std::string redacted = redact(value.as_string());
    if (redacted != std::string_view(value.as_string())) {
      value.as_string() = redacted;
      changed = true;
    }
  } else if (value.is_object()) {
    for (auto& field : value.as_object()) changed |= Redact(field.value(), redact);
  } else if (value.is_array()) {
    for (auto& item : value.as_array()) changed |= Redact(item, redact);
  }
  return changed;
}

}  // namespace

SseAccumulator::Fate SseAccumulator::Meter(std::string_view data, bool cut,
                                           std::string& rewritten) {
  if (Trim(data) == "[DONE]") {
    done_ = true;
    return Fate::kAsIs;
  }
  boost::system::error_code ec;
  unsigned char arena[4096];  // most events fit: no heap allocation per event
  boost::json::monotonic_resource memory(arena, sizeof arena);
  auto event = boost::json::parse(data, ec, &memory);
  if (ec || !event.is_object()) {
    // A cut event whose data is no JSON object is dropped, before it is judged: no client
    // could read it, and the error event after it must be read.
    if (cut) return Fate::kDropped;
    // An event named error fails the call, whatever its data.
    if (named_error_ && !done_) failed_ = true;
    // An answer's events are JSON objects: any other data is the provider's own words (an
    // error it did not name as one, say), redacted like an error's. A text as it is.
    if (redact_ && !ec) {
      if (Redact(event, redact_)) {
        rewritten = boost::json::serialize(event);
        return Fate::kRewritten;
      }
    } else if (redact_) {
      rewritten = redact_(data);
      if (rewritten != data) return Fate::kRewritten;
    }
    return Fate::kAsIs;
  }
  boost::json::object& object = event.as_object();
  bool changed = false;
  const auto* error = object.if_contains("error");
  const bool error_event = named_error_ || (error && !error->is_null());
  if (error_event) {
    // After [DONE] the answer is whole: nothing that follows fails it.
    if (!done_) failed_ = true;
    if (redact_) changed = Redact(event, redact_);
  }
  // After [DONE] the answer is whole (and recorded): what follows is relayed, not metered.
  const bool metered = !done_;
  if (const auto* choices = metered ? object.if_contains("choices") : nullptr;
      choices && choices->is_array()) {
    for (const auto& choice : choices->as_array()) {
      if (!choice.is_object()) continue;
      const auto* delta = choice.as_object().if_contains("delta");
      if (!delta || !delta->is_object()) continue;
      content_code_points_ += OtherGeneratedCodePoints(delta->as_object());
      const auto* content = delta->as_object().if_contains("content");
      if (!content || !content->is_string()) continue;
      const std::string_view text(content->as_string());
      content_code_points_ += CodePointCount(text);
      // The record keeps the first choice's text, as a whole answer's record does: the deltas
      // of `n` > 1 choices come interleaved.
      if (!content_full_ && IsFirstChoice(choice.as_object())) {
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
  if (metered && reading.verdict == UsageVerdict::kBelievable) usage_ = usage;
  // Metered only; an error event always reaches the client.
  if (!relay_usage_only_ && !error_event && IsUsageOnly(object)) return Fate::kDropped;
  // After [DONE] a usage goes as the provider sent it: neither replaced by an estimate nor
  // priced, as the record (made at [DONE]) counts none of it.
  if (metered && reading.verdict == UsageVerdict::kUnbelievable && estimate_prompt_) {
    // The client gets the estimate instead, as with a whole answer. usage_ stays unset: the
    // record estimates over the whole answer, which matches this when (as usual) the usage
    // event comes after the text.
    if (!prompt_estimate_) prompt_estimate_ = estimate_prompt_();
    usage = TokenUsage{*prompt_estimate_, EstimatedCompletionTokens()};
    boost::json::object& fields = object["usage"].as_object();
    fields["prompt_tokens"] = usage.prompt;
    fields["completion_tokens"] = usage.completion;
    fields["total_tokens"] = usage.prompt + usage.completion;
    changed = true;
  }
  // Costs where prices are configured, on a usage that could be metered (believed or replaced
  // by the estimate). A usage that names too few counts (`usage: {}` on the chunks before the
  // last, as some providers send) goes as it came.
  if (metered && price_ &&
      (reading.verdict == UsageVerdict::kBelievable ||
       (reading.verdict == UsageVerdict::kUnbelievable && estimate_prompt_))) {
    AddCosts(object["usage"].as_object(), PriceOf(price_, usage.prompt, usage.completion));
    changed = true;
  }
  if (!changed) return Fate::kAsIs;
  rewritten = boost::json::serialize(event);
  return Fate::kRewritten;
}

}  // namespace gatehouse
