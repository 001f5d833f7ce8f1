#include "usage/parallel_export_stream.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

// 3,000 records of "org" over 1,000 milliseconds (three per millisecond, so parts cut between
// ties), every third one failed and in project p2, with records of another organization between.
std::vector<RequestRecord> Records() {
  std::vector<RequestRecord> records;
  for (int i = 0; i < 3000; ++i) {
    RequestRecord record;
    record.id = "r" + std::to_string(10000 + (i * 7919) % 3000);  // ids not in start order
    record.organization_id = "org";
    record.project_id = i % 3 == 0 ? "p2" : "p1";
    record.api_token_name = "Default";
    record.api_token_id = "t1";
    record.model = "openai/gpt";
    record.status = i % 3 == 0 ? "failed" : "succeeded";
    record.start_ms = 5000 + i / 3;
    record.end_ms = record.start_ms + 10;
    record.prompt =
        i % 5 == 0 ? std::optional<std::string>("say \"hi\", then\nstop") : std::nullopt;
    records.push_back(record);
    if (i % 4 == 0) {
      RequestRecord other = record;
      other.id = "o" + std::to_string(i);
      other.organization_id = "other";
      other.project_id = "p9";
      records.push_back(other);
    }
  }
  return records;
}

std::vector<std::string> Ids(RequestCursor& cursor) {
  std::vector<std::string> ids;
  for (;;) {
    auto read = cursor.Read([&ids](const RequestRecordView& record) {
      ids.emplace_back(record.id);
      return true;
    });
    EXPECT_TRUE(read);
    if (!read || *read == 0) return ids;
  }
}

class RequestPartsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.AppendRequests(Records())); }

  std::vector<std::string> WholeWalk(const RequestQuery& query) {
    auto cursor = store_.OpenRequestCursor(query);
    EXPECT_TRUE(cursor);
    return cursor ? Ids(**cursor) : std::vector<std::string>{};
  }

  // Reads the walk part after part, each spanning `span_ms`; counts the parts.
  std::vector<std::string> PartByPart(const RequestQuery& query, TimeMs span_ms, int& parts) {
    std::vector<std::string> ids;
    auto walk = store_.OpenRequestParts(query, 1);
    EXPECT_TRUE(walk);
    if (!walk) return ids;
    parts = 0;
    for (;;) {
      auto part = (*walk)->Next(span_ms);
      EXPECT_TRUE(part);
      if (!part || !part->cursor) return ids;
      ++parts;
      EXPECT_GT(part->span_ms, 0);
      const auto more = Ids(*part->cursor);
      ids.insert(ids.end(), more.begin(), more.end());
    }
  }

  const TempDir dir_;
  SqliteStore store_{dir_.File("gatehouse.db").string()};
};

TEST_F(RequestPartsTest, PartsOfAnySpanHoldTheWholeWalkInOrderEachRecordOnce) {
  const std::vector<RequestQuery> queries = {
      {.organization_id = "org"},
      {.organization_id = "org", .project_id = "p2"},
      {.organization_id = "org", .status = "failed"},
      {.organization_id = "org", .start_ms = 5100, .end_ms = 5700},
      {.organization_id = "other"},
  };
  for (const auto& query : queries) {
    const auto whole = WholeWalk(query);
    ASSERT_FALSE(whole.empty());
    for (const TimeMs span : {TimeMs{0}, TimeMs{1}, TimeMs{7}, TimeMs{333}, TimeMs{1} << 50}) {
      int parts = 0;
      EXPECT_EQ(PartByPart(query, span, parts), whole)
          << query.project_id << query.status << " span " << span;
      if (span == 1) {
        EXPECT_GE(parts, 200) << "one millisecond a part";
      }
      if (span == TimeMs{1} << 50) {
        EXPECT_EQ(parts, 1);
      }
    }
  }
}

TEST_F(RequestPartsTest, ASpanOfZeroCutsAboutAThousandRecords) {
  int parts = 0;
  PartByPart({.organization_id = "org"}, 0, parts);
  EXPECT_EQ(parts, 3);
}

TEST_F(RequestPartsTest, AWalkWithNoRecordHasNoPart) {
  int parts = 0;
  EXPECT_TRUE(PartByPart({.organization_id = "nobody"}, 0, parts).empty());
  EXPECT_EQ(parts, 0);
  EXPECT_TRUE(PartByPart({.organization_id = "org", .end_ms = 4999}, 10, parts).empty());
  EXPECT_EQ(parts, 0);
}

TEST_F(RequestPartsTest, AtMostMaxOpenPartsAreOpenAtOnce) {
  auto walk = store_.OpenRequestParts({.organization_id = "org"}, 2);
  ASSERT_TRUE(walk);
  auto first = (*walk)->Next(10);
  auto second = (*walk)->Next(10);
  ASSERT_TRUE(first && first->cursor && second && second->cursor);
  EXPECT_FALSE((*walk)->Next(10)) << "a third connection";
  first->cursor.reset();
  auto third = (*walk)->Next(10);
  ASSERT_TRUE(third && third->cursor) << "the first part's connection was given back";
}

// Runs queued tasks on two threads, as the transport's pool for blocking work does (it has more),
// and waits for every task (including those queued meanwhile) when destroyed.
class TaskThreads {
 public:
  TaskThreads() {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~TaskThreads() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    queued_.notify_all();
    for (auto& thread : threads_) thread.join();
  }
  BodySource::QueueTask Queue() {
    return [this](std::function<void()> task) {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
      ++queued_count_;
      queued_.notify_one();
    };
  }
  int QueuedCount() {
    std::lock_guard lock(mutex_);
    return queued_count_;
  }

 private:
  void Run() {
    for (;;) {
      std::unique_lock lock(mutex_);
      queued_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable queued_;
  std::deque<std::function<void()>> tasks_;
  int queued_count_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Makes the export as the transport does: the source may queue work on a pool, and each piece
// after the first is taken with TryNextInTwo() when it is made already, else with NextInTwo().
std::string Stream(BodySource& stream, int& pieces) {
  TaskThreads threads;  // finished before the stream is
  const bool ahead = stream.WorkAheadWith(threads.Queue());
  std::string body;
  std::string chunk;
  std::string rest;
  pieces = 0;
  for (auto piece = BodyPiece::kMore; piece == BodyPiece::kMore; ++pieces) {
    std::optional<BodyPiece> ready;
    if (ahead && pieces > 0) ready = stream.TryNextInTwo(chunk, rest);
    piece = ready ? *ready : stream.NextInTwo(chunk, rest);
    EXPECT_NE(piece, BodyPiece::kBroken);
    if (piece == BodyPiece::kBroken) break;
    body += chunk;
    body += rest;
  }
  return body;
}

TEST_F(RequestPartsTest, TheParallelStreamWritesWhatTheSequentialStreamWrites) {
  for (const auto format : {ExportFormat::kCsv, ExportFormat::kJson, ExportFormat::kNdjson}) {
    // The failed records of p1: none, so every part is empty; then whole walks.
    for (const RequestQuery& query : std::vector<RequestQuery>{
             {.organization_id = "org", .project_id = "p1", .status = "failed"},
             {.organization_id = "org", .status = "failed"},
             {.organization_id = "org"}}) {
      auto cursor = store_.OpenRequestCursor(query);
      ASSERT_TRUE(cursor);
      ExportStream sequential(std::move(*cursor), format, 4096);
      int pieces = 0;
      const std::string expected = Stream(sequential, pieces);
      // Chunks smaller than the opening text and than one record, and of many records.
      for (const std::size_t chunk_bytes : {16, 4096}) {
        auto parts = store_.OpenRequestParts(query, ParallelExportStream::kMaxOpenParts);
        ASSERT_TRUE(parts);
        ParallelExportStream parallel(std::move(*parts), format, chunk_bytes);
        EXPECT_EQ(Stream(parallel, pieces), expected)
            << static_cast<int>(format) << query.status << " " << chunk_bytes;
        if (query.status.empty()) {
          EXPECT_GT(pieces, 20);
        }
      }
    }
  }
}

TEST_F(RequestPartsTest, TheParallelStreamWorksWithoutWorkAheadAndAbortGivesItsSlotBack) {
  auto cursor = store_.OpenRequestCursor({.organization_id = "org"});
  ASSERT_TRUE(cursor);
  ExportStream sequential(std::move(*cursor), ExportFormat::kCsv, 4096);
  std::string expected;
  std::string chunk;
  for (auto piece = BodyPiece::kMore; piece == BodyPiece::kMore; expected += chunk) {
    piece = sequential.Next(chunk);
  }
  ExportSlots slots(1, 1);
  auto slot = slots.Acquire("token", "org");
  ASSERT_TRUE(slot);
  auto parts = store_.OpenRequestParts({.organization_id = "org"}, 3);
  ASSERT_TRUE(parts);
  ParallelExportStream parallel(std::move(*parts), ExportFormat::kCsv, 4096, std::move(*slot));
  std::string csv;
  for (auto piece = BodyPiece::kMore; piece == BodyPiece::kMore; csv += chunk) {
    piece = parallel.Next(chunk);
    ASSERT_NE(piece, BodyPiece::kBroken);
  }
  EXPECT_EQ(csv, expected);
  EXPECT_FALSE(slots.Acquire("token", "org")) << "the stream holds its slot";
  parallel.Abort();
  EXPECT_TRUE(slots.Acquire("token", "org")) << "an aborted stream gave its slot back";
}

TEST_F(RequestPartsTest, WorkAheadStopsAtTheHeldBoundAndTryNextHandsOutWhatIsMade) {
  // The queued tasks are run here, one at a time, so that what is made is known.
  constexpr std::size_t kChunkBytes = 512;
  constexpr std::size_t kLongestRow = 200;  // the fixture's rows are shorter
  std::deque<std::function<void()>> queued;
  auto parts =
      store_.OpenRequestParts({.organization_id = "org"}, ParallelExportStream::kMaxOpenParts);
  ASSERT_TRUE(parts);
  ParallelExportStream stream(std::move(*parts), ExportFormat::kCsv, kChunkBytes);
  ASSERT_TRUE(stream.WorkAheadWith([&queued](auto task) { queued.push_back(std::move(task)); }));
  EXPECT_LE(queued.size(), ParallelExportStream::kAheadTasks);
  std::string chunk;
  std::string rest;
  EXPECT_FALSE(stream.TryNextInTwo(chunk, rest)) << "the first piece comes from NextInTwo()";
  ASSERT_EQ(stream.NextInTwo(chunk, rest), BodyPiece::kMore);
  for (int round = 0; round < 3; ++round) {
    // Nobody takes what is made: the tasks stop at the bound.
    int tasks = 0;
    for (; !queued.empty() && tasks < 1000; ++tasks) {
      auto task = std::move(queued.front());
      queued.pop_front();
      task();
    }
    EXPECT_TRUE(queued.empty()) << "tasks keep queueing without room";
    // Everything made is handed out without waiting, and no more than the bound.
    std::size_t made = 0;
    std::vector<std::function<void()>> later;  // queued while handing out: not run yet
    for (std::optional<BodyPiece> ready; (ready = stream.TryNextInTwo(chunk, rest));) {
      ASSERT_EQ(*ready, BodyPiece::kMore);
      made += chunk.size() + rest.size();
      for (auto& task : queued) later.push_back(std::move(task));
      queued.clear();
    }
    EXPECT_GE(made, kChunkBytes) << round;
    EXPECT_LE(made, (ParallelExportStream::kMaxHeldChunks + 1) * (kChunkBytes + kLongestRow))
        << round;
    for (auto& task : later) queued.push_back(std::move(task));
    EXPECT_FALSE(queued.empty()) << "handing out made room and queued work";
  }
  stream.Abort();
  for (auto& task : queued) task();  // after Abort(): they make nothing
  EXPECT_EQ(stream.NextInTwo(chunk, rest), BodyPiece::kBroken);
}

TEST_F(RequestPartsTest, AbortWhileTasksReadDropsThePartsOnlyOnceNoneIsRead) {
  // Aborted at once, after a few pieces, and after more: tasks are likely reading (ASan and
  // TSan see a part destroyed under a reader).
  for (const int pieces : {0, 1, 5, 20}) {
    ExportSlots slots(1, 1);
    auto slot = slots.Acquire("token", "org");
    ASSERT_TRUE(slot);
    auto parts =
        store_.OpenRequestParts({.organization_id = "org"}, ParallelExportStream::kMaxOpenParts);
    ASSERT_TRUE(parts);
    ParallelExportStream stream(std::move(*parts), ExportFormat::kCsv, 256, std::move(*slot));
    TaskThreads threads;
    stream.WorkAheadWith(threads.Queue());
    std::string chunk;
    std::string rest;
    for (int i = 0; i < pieces; ++i) {
      ASSERT_EQ(stream.NextInTwo(chunk, rest), BodyPiece::kMore);
    }
    stream.Abort();
    // The slot is given back once the last reader has finished its chunk.
    bool freed = false;
    for (int i = 0; i < 500 && !(freed = slots.Acquire("token", "org").has_value()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(freed) << "an aborted stream gave its slot back";
    EXPECT_EQ(stream.NextInTwo(chunk, rest), BodyPiece::kBroken);
  }
}

// One record; or, when it `fails`, an error (or, when it also `throws`, an exception) instead.
class OneRecordCursor final : public RequestCursor {
 public:
  OneRecordCursor(bool fails = false, bool throws = false) : fails_(fails), throws_(throws) {}
  Result<std::size_t> Read(const Visitor& visit) override {
    if (fails_ && throws_) throw std::runtime_error("disk on fire");
    if (fails_) return std::unexpected(Error(ErrorCode::kInternal, {}, "disk on fire"));
    if (done_) return 0;
    done_ = true;
    RequestRecordView record;
    record.id = "r";
    visit(record);
    return 1;
  }

 private:
  bool fails_, throws_, done_ = false;
};

// Parts of one record each; the third part's cursor fails (or throws) instead of reading.
class FailingParts final : public RequestParts {
 public:
  explicit FailingParts(bool throws) : throws_(throws) {}

  Result<RequestPart> Next(TimeMs) override {
    return RequestPart{std::make_unique<OneRecordCursor>(++parts_ == 3, throws_), 1};
  }

 private:
  bool throws_;
  int parts_ = 0;
};

// Parts of one record each, ten of them; opening the third throws.
class ThrowingParts final : public RequestParts {
 public:
  Result<RequestPart> Next(TimeMs) override {
    if (++parts_ == 3) throw std::runtime_error("disk on fire");
    if (parts_ > 10) return RequestPart{};
    return RequestPart{std::make_unique<OneRecordCursor>(), 1};
  }

 private:
  int parts_ = 0;
};

TEST(ParallelExportStream, APartThatCannotBeOpenedBreaksTheBodyNeverEndsItWithRowsMissing) {
  for (int round = 0; round < 20; ++round) {
    auto stream = std::make_shared<ParallelExportStream>(std::make_unique<ThrowingParts>(),
                                                         ExportFormat::kCsv, 16);
    TaskThreads threads;
    stream->WorkAheadWith(threads.Queue());
    std::string chunk;
    std::string rest;
    auto piece = BodyPiece::kMore;
    for (int pieces = 0; piece == BodyPiece::kMore && pieces < 100; ++pieces) {
      piece = stream->NextInTwo(chunk, rest);
    }
    EXPECT_EQ(piece, BodyPiece::kBroken) << round;
    stream->Abort();
  }
}

TEST(ParallelExportStream, APartThatCannotBeReadBreaksTheBodyWithoutHanging) {
  for (const bool throws : {false, true}) {
    ParallelExportStream stream(std::make_unique<FailingParts>(throws), ExportFormat::kCsv, 16);
    TaskThreads threads;
    stream.WorkAheadWith(threads.Queue());
    std::string chunk;
    std::string rest;
    auto piece = BodyPiece::kMore;
    for (int pieces = 0; piece == BodyPiece::kMore && pieces < 100; ++pieces) {
      piece = stream.NextInTwo(chunk, rest);
    }
    EXPECT_EQ(piece, BodyPiece::kBroken) << throws;
  }
}

}  // namespace
}  // namespace gatehouse
