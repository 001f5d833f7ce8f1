#include "usage/export_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::string_view kFields[] = {
    "requestId",      "projectId",        "apiToken",
    "apiTokenId",     "assistant",        "intent",
    "module",         "sessionId",        "model",
    "status",         "httpStatus",       "timestamp",
    "startTimestamp", "endTimestamp",     "elapsedTimeMs",
    "promptTokens",   "completionTokens", "totalTokens",
    "cost",           "prompt",           "inputText",
    "output",         "feedback",         "ragSourcesConsulted"};

// One field value: text (quoted in JSON), a bare number, or null. Views only: a row is written
// without allocating.
struct Value {
  enum class Kind { kText, kNumber, kNull } kind;
  std::string_view text;
  // Made here (numbers, timestamps): holds no comma, quote or line break.
  bool formatted = false;
};

// "00" to "99", two characters each.
constexpr std::array<char, 200> kTwoDigits = [] {
  std::array<char, 200> digits{};
  for (int i = 0; i < 100; ++i) {
    digits[2 * i] = static_cast<char>('0' + i / 10);
    digits[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return digits;
}();

void PutTwoDigits(char* at, unsigned value) { std::memcpy(at, &kTwoDigits[2 * value], 2); }

// Writes "HH:MM:SS.mmmZ" (13 characters) for `ms` milliseconds into a UTC day.
void WriteTimeOfDay(unsigned ms, char* at) {
  const unsigned seconds = ms / 1000;
  const unsigned millis = ms % 1000;
  PutTwoDigits(at, seconds / 3600);
  at[2] = ':';
  PutTwoDigits(at + 3, seconds / 60 % 60);
  at[5] = ':';
  PutTwoDigits(at + 6, seconds % 60);
  at[8] = '.';
  at[9] = static_cast<char>('0' + millis / 100);
  PutTwoDigits(at + 10, millis % 100);
  at[12] = 'Z';
}

// Holds the text of a row's numbers and timestamps while the row is written.
class NumberText {
 public:
  std::string_view Of(std::int64_t number) { return Put(number); }
  std::string_view Of(double number) { return Put(number); }
  // The text FormatTimestamp makes for `ms`. A time on the UTC day of `day` copies its date
  // from there; any other (from 1970 to 9999) replaces `day`.
  std::string_view Timestamp(TimeMs ms, ExportWriter::DayText& day) {
    constexpr TimeMs kDayMs = 86'400'000;
    constexpr TimeMs kLast = 253'402'300'799'999;  // later times are written as this one
    constexpr std::size_t kDateChars = sizeof day.text;
    static_assert(kDateChars + 13 == kTimestampChars);
    char* at = Reserve(kTimestampChars);
    if (ms < 0 || ms > kLast) {
      WriteTimestamp(ms, at);
    } else if (ms / kDayMs == day.day) {
      std::memcpy(at, day.text, kDateChars);
      WriteTimeOfDay(static_cast<unsigned>(ms % kDayMs), at + kDateChars);
    } else {
      WriteTimestamp(ms, at);
      day.day = ms / kDayMs;
      std::memcpy(day.text, at, kDateChars);
    }
    return {at, kTimestampChars};
  }

 private:
  template <typename Number>
  std::string_view Put(Number number) {
    char* at = Reserve(32);
    const auto [end, ec] = std::to_chars(at, at + 32, number);
    return {at, ec == std::errc() ? static_cast<std::size_t>(end - at) : 0};
  }
  char* Reserve(std::size_t size) {
    char* at = buffer_ + used_;
    used_ += size;
    return at;
  }

  char buffer_[12 * 32];  // at most 7 numbers and 3 timestamps per row
  std::size_t used_ = 0;
};

Value Text(std::string_view text) { return {Value::Kind::kText, text}; }
Value OptionalText(const std::optional<std::string_view>& text) {
  return text ? Text(*text) : Value{Value::Kind::kNull, {}};
}
Value Number(std::string_view text) { return {Value::Kind::kNumber, text, true}; }
Value Timestamp(std::string_view text) { return {Value::Kind::kText, text, true}; }
Value Null() { return {Value::Kind::kNull, {}}; }

using Values = std::array<Value, std::size(kFields)>;

Values ValuesOf(const RequestRecordView& r, NumberText& numbers, ExportWriter::DayText& day) {
  const std::string_view start = numbers.Timestamp(r.start_ms, day);
  return {Text(r.id), Text(r.project_id), Text(r.api_token_name), Text(r.api_token_id),
          // The reference SDK rejects a whole export on a null in these (API.md §4): a direct
          // model call names the model as its assistant, and a call without a conversation id
          // is its own session.
          Text(r.assistant.value_or(r.model)), OptionalText(r.intent), Text(r.module),
          Text(r.session_id.value_or(r.id)), Text(r.model), Text(r.status),
          Number(numbers.Of(std::int64_t{r.http_status})), Timestamp(start), Timestamp(start),
          Timestamp(numbers.Timestamp(r.end_ms, day)), Number(numbers.Of(r.end_ms - r.start_ms)),
          Number(numbers.Of(r.prompt_tokens)), Number(numbers.Of(r.completion_tokens)),
          Number(numbers.Of(r.total_tokens)), Number(numbers.Of(r.cost)), OptionalText(r.prompt),
          OptionalText(r.input_text), OptionalText(r.output), Null(), Null()};
}

std::optional<std::string_view> ViewOf(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return std::string_view(*text);
}

RequestRecordView ViewOf(const RequestRecord& r) {
  return {r.id,
          r.organization_id,
          r.project_id,
          r.api_token_id,
          r.api_token_name,
          ViewOf(r.assistant),
          ViewOf(r.intent),
          r.module,
          ViewOf(r.session_id),
          r.model,
          r.status,
          r.http_status,
          r.start_ms,
          r.end_ms,
          r.prompt_tokens,
          r.completion_tokens,
          r.total_tokens,
          r.cost,
          ViewOf(r.prompt),
          ViewOf(r.input_text),
          ViewOf(r.output)};
}

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  AppendJsonEscaped(out, text);
  out += '"';
}

// A spreadsheet reads a cell starting with one of these as a formula ("CSV injection"); such a
// text cell gets a leading apostrophe, as spreadsheet exports do, so it stays text.
// One lookup per field instead of six comparisons.
constexpr std::array<bool, 256> kFormulaStarts = [] {
  std::array<bool, 256> starts{};
  for (const unsigned char c : {'=', '+', '-', '@', '\t', '\r'}) starts[c] = true;
  return starts;
}();
bool LooksLikeFormula(std::string_view text) {
  return !text.empty() && kFormulaStarts[static_cast<unsigned char>(text.front())];
}

// True when `text` holds a character that makes a CSV field need quotes. Eight bytes at a time
// (this scan was half of the CSV writer's time byte by byte): a byte of `word ^ Repeat(c)` is
// zero exactly where `word` has `c`, and ZeroBytes is nonzero exactly when a byte is zero.
constexpr std::uint64_t Repeat(unsigned char c) { return 0x0101010101010101ULL * c; }
constexpr std::uint64_t ZeroBytes(std::uint64_t word) {
  return (word - Repeat(0x01)) & ~word & Repeat(0x80);
}
bool NeedsCsvQuotes(std::string_view text) {
  const char* at = text.data();
  const std::size_t size = text.size();
#if defined(__SSE2__)
  // Sixteen bytes at a time where SSE2 is there (every x86-64): a third of the scan's time.
  if (size >= 16) {
    const __m128i comma = _mm_set1_epi8(','), quote = _mm_set1_epi8('"');
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    for (std::size_t i = 0; i < size; i += 16) {
      const __m128i block =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + std::min(i, size - 16)));
      const __m128i hits =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(block, comma), _mm_cmpeq_epi8(block, quote)),
                       _mm_or_si128(_mm_cmpeq_epi8(block, cr), _mm_cmpeq_epi8(block, lf)));
      if (_mm_movemask_epi8(hits) != 0) return true;
    }
    return false;
  }
#endif
  if (size < 8) {
    for (std::size_t i = 0; i < size; ++i) {
      if (at[i] == ',' || at[i] == '"' || at[i] == '\r' || at[i] == '\n') return true;
    }
    return false;
  }
  // The last word overlaps the one before it: no byte-by-byte tail.
  for (std::size_t i = 0; i < size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, at + std::min(i, size - 8), sizeof word);
    if (ZeroBytes(word ^ Repeat(',')) | ZeroBytes(word ^ Repeat('"')) |
        ZeroBytes(word ^ Repeat('\r')) | ZeroBytes(word ^ Repeat('\n'))) {
      return true;
    }
  }
  return false;
}

// Copies `text` to `at` and returns its end. An empty view may have no data (memcpy's
// arguments must not be null even for no bytes). Fields of 4 to 64 bytes (ids, names, numbers,
// timestamps) are copied inline in blocks, the last one overlapping the one before it: a call to
// memcpy per field was 2 % of an export's CPU.
[[gnu::always_inline]] inline char* PutText(char* at, std::string_view text) {
  const char* from = text.data();
  const std::size_t size = text.size();
  if (size >= 16 && size <= 64) {
    for (std::size_t i = 0; i + 16 < size; i += 16) std::memcpy(at + i, from + i, 16);
    std::memcpy(at + size - 16, from + size - 16, 16);
  } else if (size >= 8 && size < 16) {
    std::memcpy(at, from, 8);
    std::memcpy(at + size - 8, from + size - 8, 8);
  } else if (size >= 4 && size < 8) {
    std::memcpy(at, from, 4);
    std::memcpy(at + size - 4, from + size - 4, 4);
  } else if (size != 0) {
    std::memcpy(at, from, size);
  }
  return at + size;
}

// Writes `value` as one CSV field at `at`, which has room for CsvFieldBound(value.text) bytes,
// and returns the end of what it wrote. A number made here is written as it is, a negative one
// too: a spreadsheet reads "-37" as the number it is, and an apostrophe would make it text.
char* PutCsvField(char* at, const Value& value) {
  const std::string_view text = value.text;
  const bool formula = value.kind != Value::Kind::kNumber && LooksLikeFormula(text);
  if (!formula && (value.formatted || !NeedsCsvQuotes(text))) {
    return PutText(at, text);
  }
  *at++ = '"';
  if (formula) *at++ = '\'';
  for (std::size_t from = 0;;) {
    const std::size_t quote = text.find('"', from);
    const std::string_view part = text.substr(from, quote - from);
    at = PutText(at, part);
    if (quote == std::string_view::npos) break;
    *at++ = '"';
    *at++ = '"';
    from = quote + 1;
  }
  *at++ = '"';
  return at;
}

// The most PutCsvField can write for `text`: every character a doubled quote, plus the quotes
// around it and the apostrophe.
constexpr std::size_t CsvFieldBound(std::string_view text) { return 2 * text.size() + 3; }

// Appends `values` as one CSV row. The row is written in place into room reserved for its
// longest form, then trimmed: no per-field bounds checks or appends.
void AppendCsvRow(std::string& out, const Values& values) {
  std::size_t bound = values.size() + 2;  // the commas and CRLF
  for (const Value& value : values) bound += CsvFieldBound(value.text);
  const std::size_t used = out.size();
  out.resize_and_overwrite(used + bound, [&values, used](char* data, std::size_t) {
    char* at = data + used;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) *at++ = ',';
      if (values[i].kind != Value::Kind::kNull) at = PutCsvField(at, values[i]);
    }
    *at++ = '\r';
    *at++ = '\n';
    return static_cast<std::size_t>(at - data);
  });
}

void AppendJsonItem(std::string& out, const Values& values) {
  out += '{';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    out += kFields[i];  // plain ASCII names: nothing to escape
    out += "\":";
    switch (values[i].kind) {
      case Value::Kind::kText:
        AppendJsonString(out, values[i].text);
        break;
      case Value::Kind::kNumber:
        out += values[i].text;
        break;
      case Value::Kind::kNull:
        out += "null";
        break;
    }
  }
  out += '}';
}

}  // namespace

std::optional<ExportFormat> ParseExportFormat(std::string_view text) {
  if (text.empty() || EqualsIgnoreCase(text, "json")) return ExportFormat::kJson;
  if (EqualsIgnoreCase(text, "csv")) return ExportFormat::kCsv;
  if (EqualsIgnoreCase(text, "ndjson")) return ExportFormat::kNdjson;
  return std::nullopt;
}

std::string_view ContentTypeOf(ExportFormat format) {
  switch (format) {
    case ExportFormat::kJson:
      return "application/json";
    case ExportFormat::kCsv:
      return "text/csv; charset=utf-8";
    case ExportFormat::kNdjson:
      return "application/x-ndjson";
  }
  return "application/json";
}

void ExportWriter::Begin(std::string& out) {
  if (format_ == ExportFormat::kJson) out += "{\"items\":[";
  if (format_ == ExportFormat::kCsv) {
    for (std::size_t i = 0; i < std::size(kFields); ++i) {
      if (i) out += ',';
      out += kFields[i];
    }
    out += "\r\n";
  }
}

void ExportWriter::Item(std::string& out, const RequestRecord& record) {
  Item(out, ViewOf(record));
}

void ExportWriter::Item(std::string& out, const RequestRecordView& record) {
  NumberText numbers;
  const Values values = ValuesOf(record, numbers, day_);
  switch (format_) {
    case ExportFormat::kJson:
      if (!first_) out += ',';
      AppendJsonItem(out, values);
      break;
    case ExportFormat::kNdjson:
      AppendJsonItem(out, values);
      out += '\n';
      break;
    case ExportFormat::kCsv:
      AppendCsvRow(out, values);
      break;
  }
  first_ = false;
}

void ExportWriter::End(std::string& out) {
  if (format_ == ExportFormat::kJson) out += "]}";
}

ExportStream::ExportStream(std::unique_ptr<RequestCursor> cursor, ExportFormat format,
                           std::size_t chunk_bytes, ExportSlots::Slot slot)
    : cursor_(std::move(cursor)),
      writer_(format),
      chunk_bytes_(chunk_bytes),
      slot_(std::move(slot)) {}

BodySource::Piece ExportStream::Next(std::string& chunk) {
  chunk.clear();
  if (!begun_) {
    writer_.Begin(chunk);
    begun_ = true;
  }
  const RequestCursor::Visitor write = [this, &chunk](const RequestRecordView& record) {
    writer_.Item(chunk, record);
    return chunk.size() < chunk_bytes_;
  };
  while (chunk.size() < chunk_bytes_) {
    auto read = cursor_->Read(write);
    if (!read) {
      // The status line is gone already: the client must see an incomplete body, never a
      // well-formed export with rows missing.
      spdlog::error("export stopped early: {}", read.error().internal);
      return Piece::kBroken;
    }
    if (*read == 0) {
      writer_.End(chunk);
      return Piece::kLast;
    }
  }
  return Piece::kMore;
}

void ExportStream::Abort() {
  cursor_.reset();
  slot_ = {};
}

}  // namespace gatehouse
