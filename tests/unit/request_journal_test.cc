#include "usage/request_journal.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/ids.h"
#include "journal_files.h"
#include "store/sqlite/database.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"
#include "usage/request_log.h"

namespace gatehouse {
namespace {

RequestRecord SampleRecord(int i) {
  RequestRecord record;
  record.id = NewUuid();
  record.organization_id = "org";
  record.project_id = "project";
  record.api_token_id = "token";
  record.api_token_name = "Default";
  record.assistant = "openai/gpt-4o-mini";
  record.session_id = "session-" + std::to_string(i);
  record.model = "openai/gpt-4o-mini";
  record.status = "succeeded";
  record.http_status = 200;
  record.start_ms = 1000 + i;
  record.end_ms = 2000 + i;
  record.prompt_tokens = 12;
  record.completion_tokens = -3;
  record.total_tokens = 9;
  record.cost = 0.000123;
  record.prompt = std::string("sys\0tem", 7);
  record.output = "answer";
  return record;
}

std::vector<std::string> SessionIds(Store& store) {
  auto cursor = store.OpenRequestCursor(RequestQuery{.organization_id = "org"});
  EXPECT_TRUE(cursor);
  std::vector<std::string> ids;
  RequestRecord record;
  while (*(*cursor)->Next(record)) ids.push_back(record.session_id.value_or(""));
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

TEST(RequestJournal, AFrameDecodesToTheSameRecord) {
  const RequestRecord record = SampleRecord(1);
  const auto decoded = DecodeJournalFrames(EncodeJournalFrame(record));
  ASSERT_EQ(decoded.size(), 1u);
  const RequestRecord& back = decoded[0];
  EXPECT_EQ(back.id, record.id);
  EXPECT_EQ(back.api_token_name, record.api_token_name);
  EXPECT_EQ(back.assistant, record.assistant);
  EXPECT_EQ(back.intent, std::nullopt);
  EXPECT_EQ(back.session_id, record.session_id);
  EXPECT_EQ(back.http_status, 200);
  EXPECT_EQ(back.start_ms, record.start_ms);
  EXPECT_EQ(back.end_ms, record.end_ms);
  EXPECT_EQ(back.completion_tokens, -3);
  EXPECT_EQ(back.cost, record.cost);
  EXPECT_EQ(back.prompt, record.prompt);
  EXPECT_EQ(back.input_text, std::nullopt);
  EXPECT_EQ(back.output, record.output);
}

// Frames outlive the binary that wrote them (a crash, then an upgrade, then the replay): their
// layout is fixed. Little-endian size and CRC-32 of the payload, then the fields in order, texts
// as a 32-bit length and their bytes, optional ones behind a presence byte, numbers as 64 bits.
TEST(RequestJournal, TheFrameLayoutIsFixedByteForByte) {
  RequestRecord record;
  record.id = "i";
  record.organization_id = "o";
  record.project_id = "p";
  record.api_token_id = "t";
  record.api_token_name = "n";
  record.module = "m";
  record.model = "x";
  record.status = "s";
  record.http_status = 200;
  record.start_ms = 1;
  record.end_ms = 2;
  record.prompt_tokens = 3;
  record.completion_tokens = 4;
  record.total_tokens = 7;
  record.cost = 0.5;
  const std::string payload(
      "\x01\x00\x00\x00\x69\x01\x00\x00\x00\x6f\x01\x00\x00\x00\x70\x01\x00\x00\x00\x74"
      "\x01\x00\x00\x00\x6e\x00\x00\x01\x00\x00\x00\x6d\x00\x01\x00\x00\x00\x78\x01\x00"
      "\x00\x00\x73\xc8\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02"
      "\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00"
      "\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xe0\x3f\x00"
      "\x00\x00",
      102);
  const std::string frame = EncodeJournalFrame(record);
  ASSERT_EQ(frame.size(), 8 + payload.size());
  EXPECT_EQ(frame.substr(0, 4), std::string("\x66\0\0\0", 4));
  const auto crc = static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  std::string crc_bytes;
  for (int i = 0; i < 4; ++i) crc_bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  EXPECT_EQ(frame.substr(4, 4), crc_bytes);
  EXPECT_EQ(frame.substr(8), payload);
}

TEST(RequestJournal, ReplayStopsAtATornOrCorruptFrame) {
  const std::string first = EncodeJournalFrame(SampleRecord(1));
  const std::string second = EncodeJournalFrame(SampleRecord(2));
  EXPECT_EQ(DecodeJournalFrames(first + second.substr(0, second.size() - 1)).size(), 1u);
  std::string corrupt = second;
  corrupt[corrupt.size() / 2] ^= 0x20;
  EXPECT_EQ(DecodeJournalFrames(first + corrupt + first).size(), 1u);
  EXPECT_EQ(DecodeJournalFrames(first.substr(0, 5)).size(), 0u);
}

TEST(RequestJournal, RecordsLeftByAKilledProcessAreStoredAtTheNextStartExactlyOnce) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  // A process journaled three records and stored only the first before it was killed.
  const RequestRecord stored = SampleRecord(1);
  ASSERT_TRUE(store.AppendRequests({stored}));
  {
    std::ofstream file(dir.File("requests-7.journal"), std::ios::binary);
    file << EncodeJournalFrame(stored) << EncodeJournalFrame(SampleRecord(2));
    std::ofstream later(dir.File("requests-8.journal"), std::ios::binary);
    later << EncodeJournalFrame(SampleRecord(3)) << "torn";
  }
  RequestLog log(store);
  auto replayed = log.OpenJournal(dir.path().string());
  ASSERT_TRUE(replayed);
  EXPECT_EQ(*replayed, 3u);
  EXPECT_EQ(SessionIds(store), (std::vector<std::string>{"session-1", "session-2", "session-3"}));
  // The old segments are gone; only the new, empty, active one is left.
  const auto left = JournalSegments(dir.path());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].filename(), "requests-9.journal");
  EXPECT_EQ(std::filesystem::file_size(left[0]), 0u);
  log.Stop();
}

// A replay that fails at start (the store refuses a moment) used to wait for the next start,
// while the first stored batch made /readyz green: the writer now retries it, and the log is
// failing until it has stored it.
TEST(RequestJournal, AReplayThatFailsAtStartIsRetriedByTheWriterAndTheLogFailsUntilThen) {
  const TempDir dir;
  const std::string path = dir.File("gatehouse.db").string();
  SqliteStore store(path);
  {
    std::ofstream file(dir.File("requests-7.journal"), std::ios::binary);
    file << EncodeJournalFrame(SampleRecord(1)) << EncodeJournalFrame(SampleRecord(2));
  }
  sqlite::Database other;
  other.Open(path);
  ASSERT_TRUE(other.Execute(
      "CREATE TRIGGER full_disk BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'full'); "
      "END"));
  RequestLog log(store, RequestLogOptions{.max_delay = std::chrono::milliseconds(5)});
  auto replayed = log.OpenJournal(dir.path().string());
  ASSERT_TRUE(replayed);
  EXPECT_EQ(*replayed, 0u);
  EXPECT_TRUE(log.failing());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(log.failing()) << "nothing stored yet";
  ASSERT_TRUE(other.Execute("DROP TRIGGER full_disk"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (SessionIds(store).size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(SessionIds(store), (std::vector<std::string>{"session-1", "session-2"}));
  while (log.failing() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(log.failing());
  for (const auto& segment : JournalSegments(dir.path())) {
    EXPECT_NE(segment.filename(), "requests-7.journal") << "the replayed segment is removed";
  }
  log.Stop();
}

TEST(RequestJournal, AnAppendedRecordIsInTheJournalBeforeItsBatchIsStored) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  RequestLog log(store, RequestLogOptions{.max_delay = std::chrono::hours(1)});
  ASSERT_TRUE(log.OpenJournal(dir.path().string()));
  ASSERT_TRUE(log.Append(SampleRecord(1)));
  // The batch waits (max_delay); the record is already on file, as a process kill would find.
  const auto records = JournaledRecords(dir.path());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].session_id, "session-1");
  EXPECT_TRUE(SessionIds(store).empty());
  log.Stop();
}

TEST(RequestJournal, AThreadThatDefersWritesItsFramesTogetherAtItsFlush) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  RequestLog log(store, RequestLogOptions{.max_delay = std::chrono::hours(1)});
  ASSERT_TRUE(log.OpenJournal(dir.path().string()));
  auto journaled = [&dir] { return JournaledRecords(dir.path()).size(); };
  std::thread loop([&] {
    log.DeferJournalOnThisThread();
    ASSERT_TRUE(log.Append(SampleRecord(1)));
    ASSERT_TRUE(log.Append(SampleRecord(2)));
    EXPECT_EQ(journaled(), 0u) << "deferred until the thread's flush";
    // Another thread's record is written at once.
    std::thread([&] { ASSERT_TRUE(log.Append(SampleRecord(3))); }).join();
    EXPECT_EQ(journaled(), 1u);
    log.FlushJournal();
    EXPECT_EQ(journaled(), 3u);
    log.FlushJournal();  // nothing left to write
    EXPECT_EQ(journaled(), 3u);
  });
  loop.join();
  EXPECT_EQ(log.queued(), 3u);
  EXPECT_EQ(log.journal_failures(), 0u);
  log.Stop();
  EXPECT_EQ(SessionIds(store).size(), 3u);
}

TEST(RequestJournal, AppendedFramesEncodeLikeSingleFrames) {
  std::string frames;
  const RequestRecord first = SampleRecord(1);
  const RequestRecord second = SampleRecord(2);
  AppendJournalFrame(frames, first);
  AppendJournalFrame(frames, second);
  EXPECT_EQ(frames, EncodeJournalFrame(first) + EncodeJournalFrame(second));
}

TEST(RequestJournal, StoredBatchesRetireTheirSegmentsAndStopLeavesNone) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  RequestLog log(store,
                 RequestLogOptions{.max_batch = 10, .max_delay = std::chrono::milliseconds(1)});
  ASSERT_TRUE(log.OpenJournal(dir.path().string()));
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(log.Append(SampleRecord(i)));
    if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log.written() < 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(log.written(), 200u);
  // At most the active segment and one retiring segment exist at any time.
  EXPECT_LE(JournalSegments(dir.path()).size(), 2u);
  log.Stop();
  EXPECT_TRUE(JournalSegments(dir.path()).empty());
  EXPECT_EQ(SessionIds(store).size(), 200u);
  EXPECT_EQ(log.journal_failures(), 0u);
}

TEST(RequestJournal, ReplayingRecordsAlreadyStoredAddsNoDuplicates) {
  const TempDir dir;
  {
    SqliteStore store(dir.File("gatehouse.db").string());
    RequestLog log(store, RequestLogOptions{.max_delay = std::chrono::hours(1)});
    ASSERT_TRUE(log.OpenJournal(dir.path().string()));
    ASSERT_TRUE(log.Append(SampleRecord(1)));
    ASSERT_TRUE(log.Append(SampleRecord(2)));
    // The journal as a kill -9 would leave it, kept aside; then the records are stored.
    for (const auto& segment : JournalSegments(dir.path())) {
      std::filesystem::copy_file(segment, dir.File("requests-100.journal"));
    }
    log.Stop();
  }
  SqliteStore store(dir.File("gatehouse.db").string());
  RequestLog log(store);
  ASSERT_TRUE(log.OpenJournal(dir.path().string()));
  EXPECT_EQ(SessionIds(store), (std::vector<std::string>{"session-1", "session-2"}));
  log.Stop();
}

}  // namespace gatehouse
