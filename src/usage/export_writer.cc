#include "usage/export_writer.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>

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

// One field value: text (quoted in JSON), a bare number, or null.
struct Value {
  enum class Kind { kText, kNumber, kNull } kind;
  std::string text;
};

Value Text(std::string text) { return {Value::Kind::kText, std::move(text)}; }
Value Text(const std::optional<std::string>& text) {
  return text ? Text(*text) : Value{Value::Kind::kNull, {}};
}
Value Number(std::int64_t number) { return {Value::Kind::kNumber, std::to_string(number)}; }
Value Number(double number) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number);
  return {Value::Kind::kNumber, std::string(buffer, ec == std::errc() ? end : buffer)};
}
Value Null() { return {Value::Kind::kNull, {}}; }

std::vector<Value> ValuesOf(const RequestRecord& r) {
  const std::string start = FormatTimestamp(r.start_ms);
  return {Text(r.id), Text(r.project_id), Text(r.api_token_name), Text(r.api_token_id),
          // The reference SDK rejects a whole export on a null in these (API.md §4): a direct
          // model call names the model as its assistant, and a call without a conversation id
          // is its own session.
          Text(r.assistant.value_or(r.model)), Text(r.intent), Text(r.module),
          Text(r.session_id.value_or(r.id)), Text(r.model), Text(r.status),
          Number(std::int64_t{r.http_status}), Text(start), Text(start),
          Text(FormatTimestamp(r.end_ms)), Number(r.end_ms - r.start_ms), Number(r.prompt_tokens),
          Number(r.completion_tokens), Number(r.total_tokens), Number(r.cost), Text(r.prompt),
          Text(r.input_text), Text(r.output), Null(), Null()};
}

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  AppendJsonEscaped(out, text);
  out += '"';
}

// A spreadsheet reads a cell starting with one of these as a formula ("CSV injection"); such a
// text cell gets a leading apostrophe, as spreadsheet exports do, so it stays text.
bool LooksLikeFormula(std::string_view text) {
  return !text.empty() && (text.front() == '=' || text.front() == '+' || text.front() == '-' ||
                           text.front() == '@' || text.front() == '\t' || text.front() == '\r');
}

void AppendCsvField(std::string& out, std::string_view text) {
  const bool formula = LooksLikeFormula(text);
  if (!formula && text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += text;
    return;
  }
  out += '"';
  if (formula) out += '\'';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void AppendJsonItem(std::string& out, const std::vector<Value>& values) {
  out += '{';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, kFields[i]);
    out += ':';
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
  const auto values = ValuesOf(record);
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
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) out += ',';
        if (values[i].kind != Value::Kind::kNull) AppendCsvField(out, values[i].text);
      }
      out += "\r\n";
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
  while (chunk.size() < chunk_bytes_) {
    auto more = cursor_->Next(record_);
    if (!more) {
      // The status line is gone already: the client must see an incomplete body, never a
      // well-formed export with rows missing.
      spdlog::error("export stopped early: {}", more.error().internal);
      return Piece::kBroken;
    }
    if (!*more) {
      writer_.End(chunk);
      return Piece::kLast;
    }
    writer_.Item(chunk, record_);
  }
  return Piece::kMore;
}

}  // namespace gatehouse
