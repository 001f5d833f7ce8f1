#include "usage/request_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/ids.h"
#include "store/sqlite/database.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

std::int64_t CountRequests(Store& store, const std::string& organization_id) {
  auto cursor = store.OpenRequestCursor(RequestQuery{.organization_id = organization_id});
  EXPECT_TRUE(cursor);
  RequestRecord record;
  std::int64_t count = 0;
  while (*(*cursor)->Next(record)) ++count;
  return count;
}

}  // namespace

TEST(RequestLog, StopStoresEveryQueuedRecordInBatches) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  {
    RequestLog log(store, RequestLogOptions{.capacity = 10000, .max_batch = 100});
    for (int i = 0; i < 2500; ++i) {
      RequestRecord record;
      record.id = NewUuid();
      record.organization_id = "org";
      record.start_ms = i;
      ASSERT_TRUE(log.Append(std::move(record)));
    }
    log.Stop();
    EXPECT_EQ(log.written(), 2500u);
    EXPECT_EQ(log.dropped(), 0u);
    EXPECT_FALSE(log.Append(RequestRecord{}));  // closed after Stop
  }
  EXPECT_EQ(CountRequests(store, "org"), 2500);
}

TEST(RequestLog, AFullQueueDropsAndCountsInsteadOfBlocking) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  RequestLog log(store, RequestLogOptions{.capacity = 0});
  EXPECT_FALSE(log.Append(RequestRecord{}));
  EXPECT_EQ(log.dropped(), 1u);
  log.Stop();
}

TEST(RequestLog, AFailingStoreMakesTheLogFailingUntilABatchIsStored) {
  const TempDir dir;
  const std::string path = dir.File("gatehouse.db").string();
  SqliteStore store(path);
  sqlite::Database other;
  other.Open(path);
  // What a full disk looks like to the writer: every insert of a request fails.
  ASSERT_TRUE(other.Execute(
      "CREATE TRIGGER full_disk BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'full'); "
      "END"));
  RequestLog log(store,
                 RequestLogOptions{.capacity = 3, .max_delay = std::chrono::milliseconds(5)});
  auto append = [&log] {
    RequestRecord record;
    record.id = NewUuid();
    record.organization_id = "org";
    log.Append(std::move(record));
  };
  append();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!log.failing() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(log.failing());
  // The failed batch waits a second for its retry: the queue holds its capacity, the rest is
  // dropped and counted instead of piling up in memory.
  for (int i = 0; i < 4; ++i) append();
  EXPECT_EQ(log.queued(), 3u);
  EXPECT_EQ(log.dropped(), 2u);
  ASSERT_TRUE(other.Execute("DROP TRIGGER full_disk"));
  while (log.written() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(log.written(), 3u);
  EXPECT_FALSE(log.failing());
  log.Stop();
  EXPECT_EQ(CountRequests(store, "org"), 3);
}

TEST(RequestCursor, ReturnsNewestFirstWithFiltersAndPaging) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  std::vector<RequestRecord> records;
  for (int i = 0; i < 10; ++i) {
    RequestRecord record;
    record.id = "r" + std::to_string(i);
    record.organization_id = "org";
    record.project_id = i % 2 ? "odd" : "even";
    record.status = i < 5 ? "succeeded" : "failed";
    record.start_ms = 1000 + i;
    records.push_back(record);
  }
  ASSERT_TRUE(store.AppendRequests(records));
  auto ids = [&](RequestQuery query) {
    query.organization_id = "org";
    std::vector<std::string> out;
    auto cursor = store.OpenRequestCursor(query);
    RequestRecord record;
    while (*(*cursor)->Next(record)) out.push_back(record.id);
    return out;
  };
  EXPECT_EQ(ids({.skip = 1, .count = 3}), (std::vector<std::string>{"r8", "r7", "r6"}));
  EXPECT_EQ(ids({.project_id = "odd", .status = "succeeded"}),
            (std::vector<std::string>{"r3", "r1"}));
  EXPECT_EQ(ids({.start_ms = 1004, .end_ms = 1005}), (std::vector<std::string>{"r5", "r4"}));
}

TEST(RequestCursor, PagesThroughManyRowsInOrderWithSkipAndCount) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  std::vector<RequestRecord> records;
  for (int i = 0; i < 1300; ++i) {
    RequestRecord record;
    record.id = std::to_string(10000 + i);
    record.organization_id = "org";
    record.start_ms = i / 3;  // ties on start_ms are ordered by id
    records.push_back(record);
  }
  ASSERT_TRUE(store.AppendRequests(records));
  auto cursor =
      store.OpenRequestCursor(RequestQuery{.organization_id = "org", .skip = 100, .count = 1000});
  ASSERT_TRUE(cursor);
  RequestRecord record;
  std::vector<int> seen;
  while (*(*cursor)->Next(record)) seen.push_back(std::stoi(record.id));
  ASSERT_EQ(seen.size(), 1000u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i], 10000 + 1299 - 100 - static_cast<int>(i)) << i;
  }
}

TEST(RequestCursor, ReadResumesRightAfterTheRecordItsVisitorStoppedAtAcrossPages) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  std::vector<RequestRecord> records;
  for (int i = 0; i < 10000; ++i) {
    RequestRecord record;
    record.id = std::to_string(100000 + i);
    record.organization_id = "org";
    record.start_ms = i / 4;  // ties on start_ms are ordered by id
    records.push_back(record);
  }
  ASSERT_TRUE(store.AppendRequests(records));
  auto cursor =
      store.OpenRequestCursor(RequestQuery{.organization_id = "org", .skip = 10, .count = 9000});
  ASSERT_TRUE(cursor);
  std::vector<int> seen;
  std::size_t reads = 0;
  for (;;) {
    // Stops after the 5000th record: reads end at the end of a page and at the visitor.
    auto read = (*cursor)->Read([&seen](const RequestRecordView& record) {
      seen.push_back(std::stoi(std::string(record.id)));
      return seen.size() != 5000;
    });
    ASSERT_TRUE(read);
    if (*read == 0) break;
    ASSERT_LE(++reads, 100u);
  }
  EXPECT_GE(reads, 3u);
  ASSERT_EQ(seen.size(), 9000u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i], 100000 + 9999 - 10 - static_cast<int>(i)) << i;
  }
}

TEST(RequestCursor, AFreshBatchStoresEveryFieldOfEveryRecordAsGiven) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  // More records than one statement of the fresh path holds, and not a multiple of it: some go
  // in statements of many rows, the rest one by one.
  std::vector<RequestRecord> records;
  for (int i = 0; i < 75; ++i) {
    RequestRecord record;
    record.id = "r" + std::to_string(100 + i);
    record.organization_id = "org";
    record.project_id = "p" + std::to_string(i % 3);
    record.api_token_id = "t" + std::to_string(i % 5);
    record.api_token_name = "token " + std::to_string(i % 5);
    if (i % 2) record.assistant = "bot";
    if (i % 3) record.intent = i % 9 == 1 ? "" : "default";
    record.module = i % 4 ? "chat" : "embeddings";
    if (i % 5) record.session_id = "s" + std::to_string(i);
    record.model = "fake/echo";
    record.status = i % 7 ? "succeeded" : "failed";
    record.http_status = i % 7 ? 200 : 502;
    record.start_ms = 1000 + i;
    record.end_ms = 1500 + 2 * i;
    record.prompt_tokens = i;
    record.completion_tokens = 2 * i;
    record.total_tokens = 3 * i;
    record.cost = i * 0.25;
    if (i % 6) record.prompt = "prompt " + std::to_string(i);
    if (i % 4) record.input_text = "input " + std::to_string(i);
    if (i % 8) record.output = "output " + std::to_string(i);
    records.push_back(record);
  }
  ASSERT_TRUE(store.AppendRequests(records, Store::RecordArrival::kFresh));
  auto cursor = store.OpenRequestCursor(RequestQuery{.organization_id = "org"});
  ASSERT_TRUE(cursor);
  RequestRecord read;
  for (auto expected = records.rbegin(); expected != records.rend(); ++expected) {
    ASSERT_TRUE(*(*cursor)->Next(read)) << expected->id;
    EXPECT_EQ(read.id, expected->id);
    EXPECT_EQ(read.organization_id, expected->organization_id);
    EXPECT_EQ(read.project_id, expected->project_id);
    EXPECT_EQ(read.api_token_id, expected->api_token_id);
    EXPECT_EQ(read.api_token_name, expected->api_token_name);
    EXPECT_EQ(read.assistant, expected->assistant);
    EXPECT_EQ(read.intent, expected->intent);
    EXPECT_EQ(read.module, expected->module);
    EXPECT_EQ(read.session_id, expected->session_id);
    EXPECT_EQ(read.model, expected->model);
    EXPECT_EQ(read.status, expected->status);
    EXPECT_EQ(read.http_status, expected->http_status);
    EXPECT_EQ(read.start_ms, expected->start_ms);
    EXPECT_EQ(read.end_ms, expected->end_ms);
    EXPECT_EQ(read.prompt_tokens, expected->prompt_tokens);
    EXPECT_EQ(read.completion_tokens, expected->completion_tokens);
    EXPECT_EQ(read.total_tokens, expected->total_tokens);
    EXPECT_EQ(read.cost, expected->cost);
    EXPECT_EQ(read.prompt, expected->prompt);
    EXPECT_EQ(read.input_text, expected->input_text);
    EXPECT_EQ(read.output, expected->output);
  }
  EXPECT_FALSE(*(*cursor)->Next(read));
}

TEST(RequestCursor, ViewsTellNullFromEmptyText) {
  const TempDir dir;
  SqliteStore store(dir.File("gatehouse.db").string());
  RequestRecord record;
  record.id = "r1";
  record.organization_id = "org";
  record.intent = "";
  record.prompt = "hello";
  ASSERT_TRUE(store.AppendRequests({record}));
  auto cursor = store.OpenRequestCursor(RequestQuery{.organization_id = "org"});
  ASSERT_TRUE(cursor);
  RequestRecord read;
  ASSERT_TRUE(*(*cursor)->Next(read));
  EXPECT_EQ(read.organization_id, "org");
  EXPECT_FALSE(read.assistant);
  ASSERT_TRUE(read.intent);
  EXPECT_EQ(*read.intent, "");
  EXPECT_EQ(read.prompt, "hello");
  EXPECT_FALSE(read.output);
  EXPECT_FALSE(*(*cursor)->Next(read));
}

TEST(RequestLog, ABatchBeingStoredCountsTowardTheCapacity) {
  // A batch that fails goes back to the queue: were it not counted while it is being stored,
  // the records in memory could reach the capacity plus a batch.
  const TempDir dir;
  const std::string path = dir.File("gatehouse.db").string();
  SqliteStore store(path);
  sqlite::Database other;
  other.Open(path);
  // Another process holds the write lock: the writer's batch waits (up to the store's write
  // budget of 2 s) and then fails.
  ASSERT_TRUE(other.Execute("BEGIN IMMEDIATE"));
  RequestLog log(
      store,
      RequestLogOptions{.capacity = 4, .max_batch = 2, .max_delay = std::chrono::milliseconds(5)});
  std::size_t accepted = 0;
  auto append = [&] {
    RequestRecord record;
    record.id = NewUuid();
    record.organization_id = "org";
    accepted += log.Append(std::move(record));
  };
  append();
  append();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (log.queued() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(log.queued(), 0u) << "the writer took the batch";
  for (int i = 0; i < 5; ++i) append();
  EXPECT_EQ(accepted, 4u);
  EXPECT_EQ(log.dropped(), 3u);
  ASSERT_TRUE(other.Execute("COMMIT"));
  while (log.written() < 4 &&
         std::chrono::steady_clock::now() < deadline + std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  log.Stop();
  EXPECT_EQ(log.written(), 4u);
  EXPECT_EQ(CountRequests(store, "org"), 4);
}

}  // namespace gatehouse
