#include "usage/export_writer.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

RequestRecord Record() {
  RequestRecord record;
  record.id = "r1";
  record.project_id = "p1";
  record.api_token_name = "Default";
  record.api_token_id = "t1";
  record.model = "openai/gpt";
  record.status = "succeeded";
  record.http_status = 200;
  record.start_ms = 1000;
  record.end_ms = 1812;
  record.prompt_tokens = 120;
  record.completion_tokens = 48;
  record.total_tokens = 168;
  record.cost = 0.000123;
  record.prompt = "say \"hi\", then\nstop";
  record.input_text = "a,b";
  return record;
}

std::string Write(ExportFormat format, const std::vector<RequestRecord>& records) {
  ExportWriter writer(format);
  std::string out;
  writer.Begin(out);
  for (const auto& record : records) writer.Item(out, record);
  writer.End(out);
  return out;
}

}  // namespace

TEST(ExportWriter, CsvQuotesCommasQuotesAndNewlinesAndLeavesNullEmpty) {
  const std::string csv = Write(ExportFormat::kCsv, {Record()});
  const auto header_end = csv.find("\r\n");
  EXPECT_TRUE(csv.starts_with("requestId,projectId,apiToken,apiTokenId,assistant,"));
  const std::string row = csv.substr(header_end + 2);
  EXPECT_EQ(
      row,
      "r1,p1,Default,t1,openai/gpt,,chat,r1,openai/gpt,succeeded,200,1970-01-01T00:00:01.000Z,"
      "1970-01-01T00:00:01.000Z,1970-01-01T00:00:01.812Z,812,120,48,168,0.000123,"
      "\"say \"\"hi\"\", then\nstop\",\"a,b\",,,\r\n");
}

// Issue 12, item 10: no cell of a CSV export runs as a spreadsheet formula.
TEST(ExportWriter, CsvCellsThatLookLikeFormulasAreNeutralized) {
  RequestRecord record = Record();
  record.prompt = "=HYPERLINK(\"http://evil\",\"x\")";
  record.input_text = "+1+2";
  record.output = "-2+3";
  record.assistant = "@SUM(A1)";
  record.session_id = "\tcmd";
  const std::string csv = Write(ExportFormat::kCsv, {record});
  EXPECT_NE(csv.find(",\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\","), std::string::npos) << csv;
  EXPECT_NE(csv.find(",\"'+1+2\","), std::string::npos) << csv;
  EXPECT_NE(csv.find(",\"'-2+3\","), std::string::npos) << csv;
  EXPECT_NE(csv.find(",\"'@SUM(A1)\","), std::string::npos) << csv;
  EXPECT_NE(csv.find(",\"'\tcmd\","), std::string::npos) << csv;
  // JSON keeps the text as it is: only spreadsheets run formulas.
  EXPECT_NE(Write(ExportFormat::kJson, {record}).find("\"+1+2\""), std::string::npos);
}

// The scan for characters that need quotes reads sixteen or eight bytes at a time: each of them
// must be found at every position of fields short and long, in the blocks and in the tail.
TEST(ExportWriter, CsvQuotesAFieldWithACommaQuoteOrLineBreakAtAnyPosition) {
  for (const char special : {',', '"', '\r', '\n'}) {
    for (std::size_t size = 1; size <= 40; ++size) {
      for (std::size_t at = 0; at < size; ++at) {
        RequestRecord record = Record();
        std::string text(size, 'x');
        text[at] = special;
        record.output = text;
        std::string expected = text;
        if (special == '"') expected.insert(at, 1, '"');
        if (special == '\r' && at == 0) expected.insert(0, 1, '\'');  // a formula's start
        const std::string csv = Write(ExportFormat::kCsv, {record});
        ASSERT_NE(csv.find(",\"" + expected + "\",,\r\n"), std::string::npos)
            << "character " << int(special) << " at " << at << " of " << size << ": " << csv;
      }
    }
  }
  for (std::size_t size = 1; size <= 40; ++size) {
    RequestRecord record = Record();
    record.output = std::string(size, 'y') + "\x80\xff;|";
    EXPECT_NE(Write(ExportFormat::kCsv, {record}).find("," + *record.output + ",,\r\n"),
              std::string::npos);
  }
}

// The end's date is copied from the start's when both fall on the same UTC day.
TEST(ExportWriter, EndTimestampsAreWrittenAsFormatTimestampWritesThem) {
  const std::vector<std::pair<TimeMs, TimeMs>> calls = {
      {0, 0},
      {1000, 86'399'999},
      {86'399'999, 86'400'000},
      {1'793'423'233'209, 1'793'423'233'209 + 3'599'999},
      {1'793'423'233'209, 1'793'423'233'209 + 86'400'000},
      {-5, 20},
      {-86'400'001, -86'400'000},
      {253'402'300'799'000, 253'402'300'799'999},
      {253'402'300'799'000, 253'402'300'800'500}};
  for (const auto& [start, end] : calls) {
    RequestRecord record = Record();
    record.start_ms = start;
    record.end_ms = end;
    const std::string csv = Write(ExportFormat::kCsv, {record});
    EXPECT_NE(csv.find("," + FormatTimestamp(start) + "," + FormatTimestamp(end) + ","),
              std::string::npos)
        << start << " " << end << ": " << csv;
  }
}

// One writer keeps the date of the last day it wrote: rows in either time order, across
// midnight, before 1970 and past 9999 are still written as FormatTimestamp writes them.
TEST(ExportWriter, TimestampsOfManyRowsInOneWriterAreWrittenAsFormatTimestampWritesThem) {
  const std::vector<std::pair<TimeMs, TimeMs>> calls = {
      {1'793'423'233'209, 1'793'423'234'119},
      {1'793'423'230'000, 1'793'423'230'000},
      {1'793'376'000'000, 1'793'462'399'999},  // ends on the next day
      {1'793'375'999'999, 1'793'376'000'001},  // starts on the day before, ends on the next
      {1'793'375'000'000, 1'793'375'000'500},
      {86'400'000, 86'400'001},
      {0, 86'399'999},
      {-1, 0},
      {-86'400'000, -86'399'000},
      {253'402'300'799'999, 253'402'300'800'000},
      {253'402'214'400'000, 253'402'214'400'001},
      {1'793'375'000'000, 1'793'375'000'500}};
  std::vector<RequestRecord> records;
  std::string expected;
  for (const auto& [start, end] : calls) {
    RequestRecord record = Record();
    record.start_ms = start;
    record.end_ms = end;
    records.push_back(record);
    expected +=
        FormatTimestamp(start) + "," + FormatTimestamp(start) + "," + FormatTimestamp(end) + "\n";
  }
  const std::string csv = Write(ExportFormat::kCsv, records);
  std::string written;
  for (std::size_t at = csv.find("\r\n") + 2; at < csv.size(); at = csv.find("\r\n", at) + 2) {
    // timestamp, startTimestamp and endTimestamp are the 12th to 14th fields.
    std::size_t from = at;
    for (int comma = 0; comma < 11; ++comma) from = csv.find(',', from) + 1;
    std::size_t to = from;
    for (int comma = 0; comma < 3; ++comma) to = csv.find(',', to) + 1;
    written += csv.substr(from, to - 1 - from) + "\n";
  }
  EXPECT_EQ(written, expected);
}

// A number is no formula: "-5" stays the number a spreadsheet sums, where "'-5" would be text.
TEST(ExportWriter, CsvWritesANegativeNumberAsANumber) {
  RequestRecord record = Record();
  record.end_ms = record.start_ms - 5;
  const std::string csv = Write(ExportFormat::kCsv, {record});
  EXPECT_NE(csv.find(",1970-01-01T00:00:00.995Z,-5,120,"), std::string::npos) << csv;
}

TEST(ExportWriter, JsonAndNdjsonCarryTheSameItems) {
  const std::vector<RequestRecord> records = {Record(), Record()};
  const auto json = boost::json::parse(Write(ExportFormat::kJson, records));
  const auto& items = json.as_object().at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  const std::string ndjson = Write(ExportFormat::kNdjson, records);
  const auto first_line = ndjson.substr(0, ndjson.find('\n'));
  EXPECT_EQ(boost::json::parse(first_line), items[0]);
  const auto& item = items[0].as_object();
  EXPECT_EQ(item.at("prompt").as_string(), "say \"hi\", then\nstop");
  // A direct model call names its model as the assistant and is its own session (API.md §4).
  EXPECT_EQ(item.at("assistant").as_string(), "openai/gpt");
  EXPECT_EQ(item.at("sessionId").as_string(), "r1");
  EXPECT_TRUE(item.at("intent").is_null());
  EXPECT_EQ(item.at("elapsedTimeMs").as_int64(), 812);
  EXPECT_DOUBLE_EQ(item.at("cost").as_double(), 0.000123);
  EXPECT_EQ(item.size(), 24u);
}

TEST(ExportWriter, EmptyExportsAreWellFormed) {
  EXPECT_EQ(Write(ExportFormat::kJson, {}), "{\"items\":[]}");
  EXPECT_EQ(Write(ExportFormat::kNdjson, {}), "");
  const std::string csv = Write(ExportFormat::kCsv, {});
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1);
}

TEST(ExportStream, StreamsEveryStoredRecordInChunksAndAbortGivesItsSlotBack) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  std::vector<RequestRecord> records;
  for (int i = 0; i < 3000; ++i) {
    RequestRecord record = Record();
    record.id = "r" + std::to_string(i);
    record.organization_id = "org";
    record.start_ms = i;
    records.push_back(record);
  }
  ASSERT_TRUE(store.AppendRequests(records));
  ExportSlots slots(1, 1);
  auto slot = slots.Acquire("token", "org");
  ASSERT_TRUE(slot);
  auto cursor = store.OpenRequestCursor(RequestQuery{.organization_id = "org"});
  ASSERT_TRUE(cursor);
  ExportStream stream(std::move(*cursor), ExportFormat::kCsv, 16 * 1024, std::move(*slot));
  std::string chunk;
  std::string csv;
  int pieces = 0;
  for (auto piece = BodyPiece::kMore; piece == BodyPiece::kMore; ++pieces) {
    piece = stream.Next(chunk);
    ASSERT_NE(piece, BodyPiece::kBroken);
    csv += chunk;
  }
  std::reverse(records.begin(), records.end());  // newest first
  EXPECT_EQ(csv, Write(ExportFormat::kCsv, records));
  EXPECT_GT(pieces, 10);
  EXPECT_FALSE(slots.Acquire("token", "org")) << "the stream holds its slot";
  stream.Abort();
  EXPECT_TRUE(slots.Acquire("token", "org")) << "an aborted stream gave its slot back";
}

TEST(ExportWriter, FormatNamesAreCaseInsensitiveAndJsonIsTheDefault) {
  EXPECT_EQ(ParseExportFormat(""), ExportFormat::kJson);
  EXPECT_EQ(ParseExportFormat("CSV"), ExportFormat::kCsv);
  EXPECT_EQ(ParseExportFormat("NdJson"), ExportFormat::kNdjson);
  EXPECT_FALSE(ParseExportFormat("xml"));
}

}  // namespace gatehouse
