#ifndef GATEHOUSE_GATEWAY_METERING_H_
#define GATEHOUSE_GATEWAY_METERING_H_

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/providers.h"

namespace gatehouse {

struct TokenUsage {
  std::int64_t prompt = 0;
  std::int64_t completion = 0;
};

enum class UsageVerdict {
  kAbsent,      // no `usage` object
  kIncomplete,  // too few counts to meter (a count missing that nothing else tells)
  // prompt_tokens, completion_tokens or total_tokens there (not null) and not a whole number
  // between 0 and 100,000,000, whether or not the meter needs it
  kUnbelievable,
  kBelievable,
};

// What a usage answers: a chat's prompt and completion tokens (the completion taken from
// total_tokens when completion_tokens is missing), or an embeddings answer's prompt tokens only
// (prompt_tokens, or total_tokens when that is all it names).
enum class UsageShape { kChat, kPromptOnly };

struct UsageReading {
  UsageVerdict verdict = UsageVerdict::kAbsent;
  TokenUsage usage;  // when kBelievable
};

// The provider's `usage` of a response or event, judged.
UsageReading ReadUsageOf(const boost::json::object& response, UsageShape shape = UsageShape::kChat);
// Its counts when believable, else nullopt.
std::optional<TokenUsage> ReadUsage(const boost::json::object& response,
                                    UsageShape shape = UsageShape::kChat);

// Code points a model generated besides its answer text in `message` (a whole answer's message
// or a stream's delta): a refusal, reasoning, and the names and arguments of tool and function
// calls. An estimate counts them as it counts text: an answer of tool calls only is not free.
std::size_t OtherGeneratedCodePoints(const boost::json::object& message);

// The answer text kept in a request record at most; beyond it only its length is counted, so
// that a long stream costs no more memory than this.
inline constexpr std::size_t kMaxRecordedOutput = 1 << 20;

// Meters the server-sent events of a streamed completion as they pass through: collects the
// answer text and the final chunk's usage, and extends that usage with prompt_cost,
// completion_cost, total_cost and currency at `price` (as a whole answer's usage is; without a
// price nothing is added). A usage with a count that is not believable is replaced by the
// estimate (`estimate_prompt`'s prompt tokens, asked for once, and the completion tokens of the
// text so far) when `estimate_prompt` is given; one that names too few counts, or any usage
// without `estimate_prompt` that is not believable, is relayed as it is. Without
// `relay_usage_only`, the event that carries only the usage (no choices, what a provider sends
// for stream_options.include_usage) is metered but not relayed: a client that did not ask for
// it may read choices[0] of every event. An error event (`data: {"error": …}`, or any event
// named `event: error`) fails the call, and its texts go through `redact` (the provider may
// quote the credentials it was given).
//
// Events are read as the server-sent events standard reads them: lines end with CRLF, LF or CR
// alone; an event's data is its `data` lines joined by line feeds; it ends at a blank line.
// Each event is relayed whole once its blank line has come (a client dispatches nothing
// earlier), byte for byte unless its data was rewritten: then its data lines give way to
// data lines of the new data (one for each of its lines; JSON has one), where the first stood,
// and its other lines (`event:`, `id:`, comments) stay. Comments between events
// are relayed at once (keep-alives). An event longer than kMaxHeldEvent is not relayed: it could
// be neither metered nor redacted, and no chat stream sends one. The accumulator then takes
// nothing more (overflowed()), and the caller ends the stream as broken; so a stream holds at
// most that much.
class SseAccumulator {
 public:
  static constexpr std::size_t kMaxHeldEvent = 1 << 20;
  // Buffer capacity kept between events; more, grown by a long event, is given back after it.
  static constexpr std::size_t kKeptCapacity = 256 * 1024;

  explicit SseAccumulator(const ModelPrice* price = nullptr,
                          std::function<std::int64_t()> estimate_prompt = {},
                          bool relay_usage_only = true,
                          std::function<std::string(std::string_view)> redact = {})
      : price_(price),
        estimate_prompt_(std::move(estimate_prompt)),
        relay_usage_only_(relay_usage_only),
        redact_(std::move(redact)) {}

  // Takes bytes from the provider; returns the bytes ready to relay.
  std::string Feed(std::string_view bytes);
  // At the end of the stream: takes a last line that had no line break, meters and relays an
  // event the provider did not end, and ends it, so that anything appended stands on its own.
  // `cut`: the stream may have been cut there (its provider's close ended it), so such an
  // event is dropped when its data does not parse, as Abandon drops it.
  std::string Finish(bool cut = false);
  // The stream broke: drops the unfinished last line (a cut line no client could parse),
  // relays the event's whole lines before it when its data parses (else drops the event too),
  // and returns what ends the bytes relayed so far, so that an event appended after it stands
  // on its own.
  std::string Abandon();

  // The answer text, at most its first kMaxRecordedOutput bytes (what the record keeps).
  const std::string& content() const { return content_; }
  // Completion tokens estimated from the whole answer text, however long.
  std::int64_t EstimatedCompletionTokens() const {
    return static_cast<std::int64_t>((content_code_points_ + 3) / 4);
  }
  const std::optional<TokenUsage>& usage() const { return usage_; }
  // The provider sent `data: [DONE]`.
  bool done() const { return done_; }
  // The provider sent an error event (`data: {"error": …}`, `event: error`): the call failed,
  // however its stream ends.
  bool failed() const { return failed_; }
  // The provider sent an event longer than kMaxHeldEvent: it was dropped, and so is every byte
  // fed after it. The stream has to end there, as a broken one.
  bool overflowed() const { return overflowed_; }

 private:
  // A whole line of pending_: [start, end) its text, [end, next) its line break.
  struct Line {
    std::size_t start, end, next;
  };
  // A data line of the held event, in offsets from the event's start: [start, next) the whole
  // line, [value, end) its value.
  struct DataLine {
    std::size_t start, value, end, next;
  };
  enum class Fate { kAsIs, kRewritten, kDropped };
  // How a dispatched event ended: its blank line, the stream's end (Finish), or a break
  // (Abandon: an event whose data does not parse is dropped).
  enum class Ending { kBlankLine, kStreamEnd, kCut };
  // Where the bytes relayed so far end.
  enum class Relayed {
    kEventEnd,  // nothing yet, or an event's blank line
    kInEvent,   // a whole line of an event not yet ended
  };

  // The next whole line after the ones taken; nullopt when none is whole yet. A CR that ends
  // the bytes ends its line at once (a client reads it so); should the next byte be a line
  // feed, TakeLineFeed makes it the second half of that line's break.
  std::optional<Line> NextLine();
  // The line feed at line_start_ completes the CRLF whose CR ended the last bytes fed: it joins
  // that line's break, in the held event, or relayed after its CR when the line has gone.
  void TakeLineFeed(std::string& relay);
  // Adds `line` to the held event, or dispatches the event at its blank line.
  void Hold(const Line& line, std::string& relay);
  // Meters the held event, pending_[event_start_, end), and appends what is relayed of it.
  void Dispatch(std::size_t end, Ending ending, std::string& relay);
  // Meters an event's data; `rewritten` holds the data to relay instead when kRewritten.
  Fate Meter(std::string_view data, bool cut, std::string& rewritten);
  // Appends the provider's `bytes` to `relay`.
  void Relay(std::string& relay, std::string_view bytes);
  // Forgets the stream's bytes (after Finish or Abandon).
  void Reset();
  // What ends the bytes relayed so far: nothing after an event's blank line, else one or two
  // line breaks.
  std::string EndEvent();

  const ModelPrice* price_;
  std::function<std::int64_t()> estimate_prompt_;
  bool relay_usage_only_;
  std::function<std::string(std::string_view)> redact_;
  std::optional<std::int64_t> prompt_estimate_;  // estimate_prompt_'s answer, once asked
  // Bytes of the provider not relayed yet: the held event's whole lines from event_start_, then
  // the start of the next line. Bytes before event_start_ are relayed already; Feed erases
  // them before it returns.
  std::string pending_;
  std::size_t event_start_ = 0;
  std::size_t line_start_ = 0;  // where the next line starts in pending_
  std::size_t searched_ = 0;    // pending_ holds no line break in [line_start_, searched_)
  std::vector<DataLine> data_lines_;
  Relayed relayed_ = Relayed::kEventEnd;
  bool relayed_cr_ = false;    // the last byte relayed was a CR
  bool after_cr_ = false;      // the bytes fed so far end with a CR that ended a line
  bool dropped_last_ = false;  // the last bytes that went were an event dropped, not relayed
  bool named_error_ = false;   // the held event has `event: error`
  bool bom_checked_ = false;   // the stream's first bytes were looked at for a byte order mark
  std::string content_;        // bounded: kMaxRecordedOutput
  bool content_full_ = false;  // content_ was cut: nothing more is appended
  std::size_t content_code_points_ = 0;  // of the whole answer
  std::optional<TokenUsage> usage_;
  bool done_ = false;
  bool failed_ = false;
  bool overflowed_ = false;
};

// The cost fields that extend an OpenAI `usage` object: prompt_cost, completion_cost,
// total_cost and currency "USD".
void AddCosts(boost::json::object& usage, const ChatCost& cost);

// Whether `usage` has any of the fields AddCosts writes.
bool HasCostFields(const boost::json::object& usage);

}  // namespace gatehouse

#endif  // GATEHOUSE_GATEWAY_METERING_H_
