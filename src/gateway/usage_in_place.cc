#include "gateway/usage_in_place.h"

#include <charconv>
#include <cmath>

namespace gatehouse {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The offset of the quote that closes the string whose text begins at `from`; npos when none.
std::size_t ClosingQuote(std::string_view json, std::size_t from) {
  for (;;) {
    const std::size_t quote = json.find('"', from);
    if (quote == std::string_view::npos) return quote;
    std::size_t backslashes = 0;
    while (quote - backslashes > from && json[quote - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote;
    from = quote + 1;  // an escaped quote
  }
}

// `,"name":value` for a cost: the shortest digits that read back as `value` (std::to_chars),
// with a fraction or an exponent always, so that no client reads a whole cost as an integer.
void AppendCost(std::string& out, std::string_view name, double value) {
  char buffer[32];
  const std::string_view digits(buffer,
                                std::to_chars(buffer, buffer + sizeof buffer, value).ptr - buffer);
  out += ",\"";
  out += name;
  out += "\":";
  out += digits;
  if (digits.find_first_of(".e") == std::string_view::npos) out += ".0";
}

std::size_t SkipSpace(std::string_view json, std::size_t i) {
  while (i < json.size() && IsJsonSpace(json[i])) ++i;
  return i;
}

// The closing brace of the object that opens at `open`; npos when the text ends first.
std::size_t ClosingBrace(std::string_view json, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < json.size(); ++i) {
    switch (json[i]) {
      case '"':
        i = ClosingQuote(json, i + 1);
        if (i == std::string_view::npos) return i;
        break;
      case '{':
      case '[':
        ++depth;
        break;
      case '}':
      case ']':
        if (--depth == 0) return i;
        break;
      default:
        break;
    }
  }
  return std::string_view::npos;
}

// The answers of OpenAI-compatible providers end with their usage: when `key` names the last
// member of the top-level object, the end of its object value, found from the text's end without
// reading the rest; nullopt otherwise. The last member is the one a reader of duplicate names
// keeps (Boost.JSON, as the meter reads it, and most others).
std::optional<std::size_t> EndOfClosingMember(std::string_view json, std::string_view key) {
  const std::size_t quoted = key.size() + 2;
  if (json.size() < quoted) return std::nullopt;
  for (std::size_t at = json.size() - quoted;; --at) {
    if (json[at] == '"' && json[at + quoted - 1] == '"' && json.substr(at + 1, key.size()) == key) {
      // A name: its opening quote is not escaped (its closing one follows no backslash), a colon
      // follows it, and its value is an object.
      std::size_t backslashes = 0;
      while (backslashes < at && json[at - backslashes - 1] == '\\') ++backslashes;
      std::size_t i = SkipSpace(json, at + quoted);
      if (backslashes % 2 != 0 || i >= json.size() || json[i] != ':') return std::nullopt;
      i = SkipSpace(json, i + 1);
      if (i >= json.size() || json[i] != '{') return std::nullopt;
      const std::size_t end = ClosingBrace(json, i);
      if (end == std::string_view::npos) return std::nullopt;
      // Only the top-level object's brace after it: the text's last brace closes the top level.
      i = SkipSpace(json, end + 1);
      if (i >= json.size() || json[i] != '}' || SkipSpace(json, i + 1) != json.size()) {
        return std::nullopt;
      }
      return end;
    }
    if (at == 0) return std::nullopt;
  }
}

// Finds the member anywhere in the top-level object (EndOfTopLevelObjectMember).
std::optional<std::size_t> ScanForMember(std::string_view json, std::string_view key) {
  // One pass over the text's structure, strings skipped whole. Valid JSON is assumed (the parser
  // has read it): a string at depth 1 that follows `{` or `,` is a member's name.
  int depth = 0;
  char last = 0;       // the last structural character; a string counts as '"'
  bool named = false;  // the sought name was read: the next value is its member's
  std::optional<std::size_t> end;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (IsJsonSpace(c)) continue;
    if (depth == 0 && c != '{') return std::nullopt;  // the top level is not an object
    if (named && last == ':') {  // the sought member's value: an object, skipped whole
      if (c != '{') return std::nullopt;
      named = false;
      i = ClosingBrace(json, i);
      if (i == std::string_view::npos) return std::nullopt;
      end = i;
      last = '}';
      continue;
    }
    switch (c) {
      case '"': {
        const std::size_t start = i + 1;
        i = ClosingQuote(json, start);
        if (i == std::string_view::npos) return std::nullopt;
        if (depth == 1 && (last == '{' || last == ',')) {
          const std::string_view name = json.substr(start, i - start);
          if (name.find('\\') != std::string_view::npos) return std::nullopt;
          if (name == key) {
            if (end) return std::nullopt;  // named twice
            named = true;
          }
        }
        break;
      }
      case '{':
      case '[':
        ++depth;
        break;
      case '}':
      case ']':
        --depth;
        break;
      default:
        break;
    }
    last = c;
  }
  return end;
}

}  // namespace

std::optional<std::size_t> EndOfTopLevelObjectMember(std::string_view json, std::string_view key) {
  if (const auto end = EndOfClosingMember(json, key)) return end;
  return ScanForMember(json, key);
}

bool AppendCostsToUsage(std::string& answer, const ChatCost& cost) {
  const auto end = EndOfTopLevelObjectMember(answer, "usage");
  if (!end) return false;
  if (!std::isfinite(cost.prompt) || !std::isfinite(cost.completion) ||
      !std::isfinite(cost.total)) {
    return false;  // no JSON number says so
  }
  // The fields AddCosts writes.
  std::string fields;
  fields.reserve(128);
  AppendCost(fields, "prompt_cost", cost.prompt);
  AppendCost(fields, "completion_cost", cost.completion);
  AppendCost(fields, "total_cost", cost.total);
  fields += ",\"currency\":\"USD\"";
  if (answer[answer.find_last_not_of(" \t\n\r", *end - 1)] == '{') {
    fields.erase(0, 1);  // the usage object was empty: no comma before the first
  }
  answer.insert(*end, fields);
  return true;
}

}  // namespace gatehouse
