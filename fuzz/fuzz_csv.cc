// The CSV export writer: text fields from the input, separated by 0x1F. The row it writes must
// read back (RFC 4180) as exactly one row of the 24 fields, each text field intact, or with
// one leading apostrophe where a spreadsheet would have read a formula.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "usage/export_writer.h"

namespace {

// RFC 4180 rows of `text` (CRLF between rows, quotes doubled inside quoted fields).
std::vector<std::vector<std::string>> ReadCsv(std::string_view text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(std::move(field));
      field.clear();
      rows.emplace_back();
      ++i;
    } else {
      field += c;
    }
  }
  if (quoted) __builtin_trap();
  if (rows.back().empty() && field.empty()) rows.pop_back();
  return rows;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> texts(5);
  std::size_t index = 0;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0x1f) {
      if (++index == texts.size()) break;
      continue;
    }
    texts[index] += static_cast<char>(data[i]);
  }
  gatehouse::RequestRecord record;
  record.id = "r";
  record.api_token_name = texts[0];
  record.assistant = texts[1];
  record.prompt = texts[2];
  record.input_text = texts[3];
  record.output = texts[4];
  std::string csv;
  gatehouse::ExportWriter writer(gatehouse::ExportFormat::kCsv);
  writer.Begin(csv);
  writer.Item(csv, record);
  writer.End(csv);
  const auto rows = ReadCsv(csv);
  if (rows.size() != 2 || rows[0].size() != 24 || rows[1].size() != 24) __builtin_trap();
  auto intact = [](const std::string& cell, const std::string& text) {
    const bool formula =
        !text.empty() && std::string_view("=+-@\t\r").find(text[0]) != std::string_view::npos;
    return cell == (formula ? "'" + text : text);
  };
  // Columns: apiToken 2, assistant 4, prompt 19, inputText 20, output 21.
  if (!intact(rows[1][2], texts[0]) || !intact(rows[1][4], texts[1]) ||
      !intact(rows[1][19], texts[2]) || !intact(rows[1][20], texts[3]) ||
      !intact(rows[1][21], texts[4])) {
    __builtin_trap();
  }
  return 0;
}
