#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "pg_test_database.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_request_cursor.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

constexpr TimeMs kHour = 3'600'000;
constexpr TimeMs kDay = 24 * kHour;
constexpr TimeMs kBase = 1'764'547'200'000;  // 2025-12-01T00:00:00Z

RequestRecord MakeRecord(int i, TimeMs at, std::mt19937& random) {
  static const char* kProjects[] = {"p1", "p2"};
  static const char* kTokens[] = {"t1", "t2", "t3"};
  static const char* kModels[] = {"fake/echo", "fake/other"};
  static const char* kStatuses[] = {"succeeded", "succeeded", "failed", "pending"};
  RequestRecord record;
  record.id = "r" + std::to_string(100000 + i);
  record.organization_id = "o1";
  record.project_id = kProjects[random() % 2];
  record.api_token_id = kTokens[random() % 3];
  record.api_token_name = record.api_token_id == "t1" ? "ci" : "Default";
  if (random() % 3 == 0) record.assistant = "bot";
  if (random() % 2 == 0) record.session_id = "s" + std::to_string(i % 7);
  record.model = kModels[random() % 2];
  record.status = kStatuses[random() % 4];
  record.http_status = record.status == "failed" ? 502 : 200;
  record.start_ms = at;
  record.end_ms = at + static_cast<TimeMs>(random() % 5000);
  record.prompt_tokens = static_cast<std::int64_t>(random() % 100);
  record.completion_tokens = static_cast<std::int64_t>(random() % 50);
  record.total_tokens = record.prompt_tokens + record.completion_tokens;
  record.cost = static_cast<double>(random() % 1000) / 1e6;
  record.prompt = "say \"hi\" \\ {" + std::to_string(i) + "}, please";
  if (random() % 5 != 0) record.output = "hi, NULL";
  return record;
}

// Newest first, as a cursor walks.
bool NewerFirst(const RequestRecord& a, const RequestRecord& b) {
  return a.start_ms != b.start_ms ? a.start_ms > b.start_ms : a.id > b.id;
}

bool Matches(const RequestRecord& r, const RequestQuery& q) {
  if (r.organization_id != q.organization_id) return false;
  if (!q.project_id.empty() && r.project_id != q.project_id) return false;
  if (!q.assistant_name.empty() && r.assistant != q.assistant_name) return false;
  if (!q.status.empty() && r.status != q.status) return false;
  if (!q.api_token.empty() && r.api_token_id != q.api_token && r.api_token_name != q.api_token) {
    return false;
  }
  if (q.start_ms && r.start_ms < *q.start_ms) return false;
  if (q.end_ms && r.start_ms > *q.end_ms) return false;
  return true;
}

// What a cursor over `query` must return: the matching records newest first, after skip, up to
// count.
std::vector<RequestRecord> Expected(std::vector<RequestRecord> records, const RequestQuery& q) {
  std::erase_if(records, [&](const RequestRecord& r) { return !Matches(r, q); });
  std::sort(records.begin(), records.end(), NewerFirst);
  const auto skip = std::min<std::size_t>(records.size(), static_cast<std::size_t>(q.skip));
  records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(skip));
  if (q.count > 0 && records.size() > static_cast<std::size_t>(q.count)) {
    records.resize(static_cast<std::size_t>(q.count));
  }
  return records;
}

// Every record of `cursor`, reading them a page at a time, or one per read with `one_by_one`.
std::vector<RequestRecord> ReadAll(RequestCursor& cursor, bool one_by_one = false) {
  std::vector<RequestRecord> records;
  for (;;) {
    auto read = cursor.Read([&](const RequestRecordView& view) {
      AssignRecord(records.emplace_back(), view);
      return !one_by_one;
    });
    EXPECT_TRUE(read) << read.error().internal;
    if (!read || *read == 0) return records;
  }
}

void ExpectSameRecords(const std::vector<RequestRecord>& actual,
                       const std::vector<RequestRecord>& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const RequestRecord& a = actual[i];
    const RequestRecord& e = expected[i];
    ASSERT_EQ(a.id, e.id) << what << " at " << i;
    EXPECT_EQ(a.organization_id, e.organization_id);
    EXPECT_EQ(a.project_id, e.project_id);
    EXPECT_EQ(a.api_token_id, e.api_token_id);
    EXPECT_EQ(a.api_token_name, e.api_token_name);
    EXPECT_EQ(a.assistant, e.assistant);
    EXPECT_EQ(a.intent, e.intent);
    EXPECT_EQ(a.module, e.module);
    EXPECT_EQ(a.session_id, e.session_id);
    EXPECT_EQ(a.model, e.model);
    EXPECT_EQ(a.status, e.status);
    EXPECT_EQ(a.http_status, e.http_status);
    EXPECT_EQ(a.start_ms, e.start_ms);
    EXPECT_EQ(a.end_ms, e.end_ms);
    EXPECT_EQ(a.prompt_tokens, e.prompt_tokens);
    EXPECT_EQ(a.completion_tokens, e.completion_tokens);
    EXPECT_EQ(a.total_tokens, e.total_tokens);
    EXPECT_EQ(a.cost, e.cost);
    EXPECT_EQ(a.prompt, e.prompt);
    EXPECT_EQ(a.input_text, e.input_text);
    EXPECT_EQ(a.output, e.output);
  }
}

std::string KeyOf(const RequestRecord& r, UsageDimension dimension) {
  switch (dimension) {
    case UsageDimension::kNone:
      return "";
    case UsageDimension::kProject:
      return r.project_id;
    case UsageDimension::kToken:
      return r.api_token_id;
    case UsageDimension::kAssistant:
      return r.assistant.value_or(r.model);
    case UsageDimension::kModel:
      return r.model;
  }
  return "";
}

using Sums = std::map<std::pair<std::string, TimeMs>, UsageTotals>;

Sums BruteForce(const std::vector<RequestRecord>& records, const UsageSummaryQuery& q) {
  Sums sums;
  for (const auto& r : records) {
    if (r.organization_id != q.organization_id) continue;
    if (r.start_ms < q.start_ms || r.start_ms >= q.end_ms) continue;
    if (!q.project_id.empty() && r.project_id != q.project_id) continue;
    if (!q.api_token_id.empty() && r.api_token_id != q.api_token_id) continue;
    if (!q.assistant.empty() && r.assistant.value_or("") != q.assistant) continue;
    if (!q.model.empty() && r.model != q.model) continue;
    const TimeMs period = q.grain == UsageGrain::kHour     ? r.start_ms - r.start_ms % kHour
                          : q.grain == UsageGrain::kUtcDay ? r.start_ms - r.start_ms % kDay
                                                           : 0;
    sums[{KeyOf(r, q.group_by), period}] +=
        UsageTotals{1,      r.status == "failed", r.prompt_tokens, r.completion_tokens,
                    r.cost, r.end_ms - r.start_ms};
  }
  return sums;
}

Sums Collect(const std::vector<UsageRow>& rows) {
  Sums sums;
  for (const auto& row : rows) {
    EXPECT_FALSE(sums.contains({row.key, row.period_ms})) << "two rows for one key and period";
    sums[{row.key, row.period_ms}] = row.totals;
  }
  return sums;
}

void ExpectSameSums(const Sums& actual, const Sums& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (const auto& [key, totals] : expected) {
    const auto found = actual.find(key);
    ASSERT_NE(found, actual.end()) << what << " lacks " << key.first << "@" << key.second;
    EXPECT_EQ(found->second.requests, totals.requests) << what;
    EXPECT_EQ(found->second.failed, totals.failed) << what;
    EXPECT_EQ(found->second.prompt_tokens, totals.prompt_tokens) << what;
    EXPECT_EQ(found->second.completion_tokens, totals.completion_tokens) << what;
    EXPECT_NEAR(found->second.cost, totals.cost, 1e-9) << what;
    EXPECT_EQ(found->second.elapsed_ms, totals.elapsed_ms) << what;
  }
}

class PgRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.available()) GTEST_SKIP() << db_.skip_reason();
    store_ = std::make_unique<PgStore>(PgStore::Options{.url = db_.url()});
  }

  // Stores `records` in batches of `batch_size`, alternately as fresh and as may-repeat.
  void Append(const std::vector<RequestRecord>& records, std::size_t batch_size = 250) {
    int batches = 0;
    for (std::size_t begin = 0; begin < records.size(); begin += batch_size) {
      const std::vector<RequestRecord> batch(
          records.begin() + static_cast<std::ptrdiff_t>(begin),
          records.begin() +
              static_cast<std::ptrdiff_t>(std::min(records.size(), begin + batch_size)));
      auto stored = store_->AppendRequests(
          batch, ++batches % 2 ? Store::RecordArrival::kFresh : Store::RecordArrival::kMayRepeat);
      ASSERT_TRUE(stored) << stored.error().internal;
    }
  }

  // Records over three days, several of them sharing a start_ms (ties settled by id).
  static std::vector<RequestRecord> ThreeDays(int count, unsigned seed) {
    std::mt19937 random(seed);
    std::vector<RequestRecord> records;
    for (int i = 0; i < count; ++i) {
      const TimeMs at = i % 10 == 3 && !records.empty()
                            ? records.back().start_ms
                            : kBase + static_cast<TimeMs>(random() % (3 * kDay));
      records.push_back(MakeRecord(i, at, random));
    }
    return records;
  }

  std::int64_t QueryInt(const std::string& sql) {
    auto connection = pg::Connection::Open(db_.url());
    EXPECT_TRUE(connection);
    auto rows = (*connection)->Exec(sql);
    EXPECT_TRUE(rows) << rows.error().internal;
    return rows->Int(0, 0);
  }

  Result<std::vector<RequestRecord>> Walk(const RequestQuery& query, bool one_by_one = false) {
    auto cursor = store_->OpenRequestCursor(query);
    if (!cursor) return std::unexpected(cursor.error());
    return ReadAll(**cursor, one_by_one);
  }

  PgTestDatabase db_;
  std::unique_ptr<PgStore> store_;
};

TEST_F(PgRequestsTest, ARepeatedRecordIsStoredAndRolledUpOnce) {
  std::mt19937 random(3);
  std::vector<RequestRecord> records;
  for (int i = 0; i < 4; ++i) records.push_back(MakeRecord(i, kBase + i * kHour + 10, random));
  ASSERT_TRUE(store_->AppendRequests({records[0], records[1]}, Store::RecordArrival::kFresh));
  // A batch written again after a failure: two of its records are stored already, one is given
  // twice.
  ASSERT_TRUE(store_->AppendRequests({records[0], records[2], records[1], records[2], records[3]},
                                     Store::RecordArrival::kMayRepeat));
  // A fresh batch holding a stored record stores none of it.
  RequestRecord extra = MakeRecord(9, kBase + 5 * kHour, random);
  EXPECT_FALSE(store_->AppendRequests({extra, records[3]}, Store::RecordArrival::kFresh));

  auto walked = Walk(RequestQuery{.organization_id = "o1"});
  ASSERT_TRUE(walked) << walked.error().internal;
  ExpectSameRecords(*walked, Expected(records, RequestQuery{.organization_id = "o1"}), "walk");

  // Whole days: the summary reads the rollups only.
  for (UsageDimension dimension : {UsageDimension::kNone, UsageDimension::kToken}) {
    UsageSummaryQuery query{.organization_id = "o1",
                            .start_ms = kBase,
                            .end_ms = kBase + kDay,
                            .group_by = dimension,
                            .grain = UsageGrain::kHour};
    auto rows = store_->SummarizeUsage(query);
    ASSERT_TRUE(rows) << rows.error().internal;
    ExpectSameSums(Collect(*rows), BruteForce(records, query), "summary");
  }
  EXPECT_EQ(QueryInt("SELECT SUM(requests) FROM usage_org_hours"), 4);
  EXPECT_EQ(QueryInt("SELECT SUM(requests) FROM usage_hours"), 4);
  EXPECT_EQ(QueryInt("SELECT SUM(requests) FROM usage_token_hours"), 4);
  EXPECT_EQ(QueryInt("SELECT SUM(requests) FROM usage_days"), 4);
  EXPECT_EQ(QueryInt("SELECT SUM(requests) FROM usage_token_days"), 4);
  EXPECT_EQ(QueryInt("SELECT SUM(prompt_tokens) FROM usage_org_hours"),
            records[0].prompt_tokens + records[1].prompt_tokens + records[2].prompt_tokens +
                records[3].prompt_tokens);
}

// Two nodes replaying the same journal at once: each record is stored and counted once, and
// neither waits on the other into a deadlock.
TEST_F(PgRequestsTest, TwoNodesAppendingTheSameRecordsStoreAndCountThemOnce) {
  const std::vector<RequestRecord> records = ThreeDays(4000, 37);
  PgStore other(PgStore::Options{.url = db_.url()});
  const auto replay = [&](Store& store) {
    for (std::size_t begin = 0; begin < records.size(); begin += 200) {
      const std::vector<RequestRecord> batch(
          records.begin() + static_cast<std::ptrdiff_t>(begin),
          records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), begin + 200)));
      auto stored = store.AppendRequests(batch, Store::RecordArrival::kMayRepeat);
      EXPECT_TRUE(stored) << stored.error().internal;
    }
  };
  std::thread first(replay, std::ref(*store_));
  replay(other);
  first.join();

  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM requests"), 4000);
  for (const char* rollup :
       {"usage_org_hours", "usage_hours", "usage_token_hours", "usage_days", "usage_token_days"}) {
    EXPECT_EQ(QueryInt(std::string("SELECT SUM(requests) FROM ") + rollup), 4000) << rollup;
  }
}

TEST_F(PgRequestsTest, ANulCharacterWhichPostgresTextCannotHoldIsStoredAsAReplacement) {
  std::mt19937 random(31);
  RequestRecord record = MakeRecord(1, kBase, random);
  record.output = std::string("a\0b", 3);
  ASSERT_TRUE(store_->AppendRequests({record}));
  auto walked = Walk(RequestQuery{.organization_id = "o1"});
  ASSERT_TRUE(walked);
  ASSERT_EQ(walked->size(), 1u);
  EXPECT_EQ((*walked)[0].output,
            "a\xEF\xBF\xBD"
            "b");
}

// PostgreSQL refuses text that is not UTF-8, and one such record would fail its whole batch,
// which the request log would then write again and again: each byte that begins no code point is
// stored as U+FFFD instead, and the rest of the text as it was.
TEST_F(PgRequestsTest, BytesThatAreNotUtf8AreStoredAsReplacementsAndTheBatchIsStored) {
  std::mt19937 random(37);
  RequestRecord odd = MakeRecord(1, kBase, random);
  odd.output = "caf\xc3\xa9 \xc3(\xff)\xe2\x82";  // é, a cut é, a stray byte, a cut €
  odd.prompt = "\xed\xa0\x80";                    // a surrogate
  odd.api_token_name = "name \x80";
  const RequestRecord plain = MakeRecord(2, kBase + 1, random);
  ASSERT_TRUE(store_->AppendRequests({odd, plain}));
  auto walked = Walk(RequestQuery{.organization_id = "o1"});
  ASSERT_TRUE(walked);
  ASSERT_EQ(walked->size(), 2u);
  const RequestRecord& stored = (*walked)[1];
  EXPECT_EQ(stored.id, odd.id);
  EXPECT_EQ(stored.output, "caf\xc3\xa9 \xEF\xBF\xBD(\xEF\xBF\xBD)\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(stored.prompt, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(stored.api_token_name, "name \xEF\xBF\xBD");
  EXPECT_EQ((*walked)[0].output, plain.output);
}

// A page is read whole into memory, and a record may carry megabytes of prompt and answer: a
// walk's pages hold about 8 MiB of text, as many records as that allows (4 to 1024).
TEST(RequestPageRows, APageHoldsAboutEightMebibytesOfTextWhateverTheRecordsSize) {
  EXPECT_EQ(NextPageRows(0, 0), 16) << "the first page, before any size is known";
  EXPECT_EQ(NextPageRows(16, 16 * 200), 1024) << "small records: the most rows";
  EXPECT_EQ(NextPageRows(16, 16 * (2 << 20)), 4) << "2 MiB records: the fewest";
  const std::int64_t rows = NextPageRows(100, 100 * (64 << 10));  // 64 KiB records
  EXPECT_GE(rows, 100);
  EXPECT_LE(rows * (64 << 10), 8 << 20);
}

TEST_F(PgRequestsTest, CursorWalksNewestFirstWithSkipCountAndFilters) {
  const std::vector<RequestRecord> records = ThreeDays(3000, 5);
  Append(records);
  std::vector<RequestQuery> queries = {
      {.organization_id = "o1"},
      {.organization_id = "o1", .skip = 1500, .count = 1100},
      {.organization_id = "o1", .skip = 10, .count = 3},
      {.organization_id = "o1", .skip = 5000},
      {.organization_id = "o1", .project_id = "p2"},
      {.organization_id = "o1", .assistant_name = "bot", .status = "failed"},
      {.organization_id = "o1", .api_token = "ci"},  // a token's name
      {.organization_id = "o1", .api_token = "t2"},  // a token's id
      {.organization_id = "o1", .project_id = "p1", .api_token = "Default", .skip = 7},
      {.organization_id = "o1", .start_ms = kBase + kDay, .end_ms = kBase + 2 * kDay},
      {.organization_id = "o1", .start_ms = records[13].start_ms, .end_ms = records[13].start_ms},
      {.organization_id = "o2"},
  };
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const RequestQuery& query = queries[i];
    const auto expected = Expected(records, query);
    auto paged = Walk(query);
    ASSERT_TRUE(paged) << paged.error().internal;
    ExpectSameRecords(*paged, expected, "query " + std::to_string(i));
    if (expected.size() < 2000) {
      auto one_by_one = Walk(query, /*one_by_one=*/true);
      ASSERT_TRUE(one_by_one) << one_by_one.error().internal;
      ExpectSameRecords(*one_by_one, expected, "query " + std::to_string(i) + " one by one");
    }
  }
}

TEST_F(PgRequestsTest, ARecordStoredDuringTheWalkAppearsOnlyBelowTheRowsReturned) {
  std::mt19937 random(9);
  std::vector<RequestRecord> records;
  for (int i = 0; i < 2000; ++i) records.push_back(MakeRecord(i, kBase + i * 1000, random));
  Append(records);
  auto cursor = store_->OpenRequestCursor(RequestQuery{.organization_id = "o1"});
  ASSERT_TRUE(cursor);
  RequestRecord first;
  ASSERT_TRUE((*cursor)->Next(first).value_or(false));
  EXPECT_EQ(first.id, records.back().id);
  RequestRecord newer = MakeRecord(5000, kBase + 5'000'000, random);
  RequestRecord older = MakeRecord(5001, kBase - 1, random);
  ASSERT_TRUE(store_->AppendRequests({newer, older}));
  std::vector<RequestRecord> rest = ReadAll(**cursor);
  ASSERT_EQ(rest.size(), records.size());  // the 1999 left and `older`
  EXPECT_EQ(rest.back().id, older.id);
  EXPECT_TRUE(std::none_of(rest.begin(), rest.end(),
                           [&](const RequestRecord& r) { return r.id == newer.id; }));
}

TEST_F(PgRequestsTest, PartsCoverEveryRecordOnceInOrder) {
  const std::vector<RequestRecord> records = ThreeDays(2500, 13);
  Append(records, 1000);
  for (const TimeMs span : {TimeMs{0}, TimeMs{1}, 7 * kHour, 10 * kDay}) {
    for (const std::string project : {"", "p1"}) {
      RequestQuery query{.organization_id = "o1", .project_id = project};
      if (span == kHour * 7) query.start_ms = kBase + kDay / 2;
      auto parts = store_->OpenRequestParts(query, 2);
      ASSERT_TRUE(parts) << parts.error().internal;
      std::vector<RequestRecord> walked;
      int count = 0;
      for (;;) {
        auto part = (*parts)->Next(span);
        ASSERT_TRUE(part) << part.error().internal;
        if (!part->cursor) break;
        ++count;
        EXPECT_GT(part->span_ms, 0);
        const std::vector<RequestRecord> read = ReadAll(*part->cursor);
        EXPECT_FALSE(read.empty()) << "an empty part";
        if (span > 0 && !read.empty()) {
          EXPECT_LE(read.front().start_ms - read.back().start_ms, span - 1);
        }
        walked.insert(walked.end(), read.begin(), read.end());
      }
      const std::string what = "span " + std::to_string(span) + " project '" + project + "'";
      ExpectSameRecords(walked, Expected(records, query), what);
      if (span == 0) {
        EXPECT_GE(count, project.empty() ? 3 : 2) << what;
      }
    }
  }
}

TEST_F(PgRequestsTest, AtMostMaxOpenPartsAreOpenAtOnce) {
  std::mt19937 random(17);
  std::vector<RequestRecord> records;
  for (int i = 0; i < 10; ++i) records.push_back(MakeRecord(i, kBase + i * kHour, random));
  Append(records);
  auto parts = store_->OpenRequestParts(RequestQuery{.organization_id = "o1"}, 2);
  ASSERT_TRUE(parts);
  auto first = (*parts)->Next(kHour);
  auto second = (*parts)->Next(kHour);
  ASSERT_TRUE(first && first->cursor && second && second->cursor);
  auto third = (*parts)->Next(kHour);
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code(), ErrorCode::kInternal);
  first->cursor.reset();
  third = (*parts)->Next(kHour);
  ASSERT_TRUE(third && third->cursor);
  RequestRecord record;
  ASSERT_TRUE(third->cursor->Next(record).value_or(false));
  EXPECT_EQ(record.id, records[7].id);

  EXPECT_FALSE(store_->OpenRequestParts(RequestQuery{.organization_id = "o1", .skip = 1}, 2));
}

TEST_F(PgRequestsTest, SummaryTotalsEqualTheRecordsSums) {
  const std::vector<RequestRecord> records = ThreeDays(3000, 7);
  Append(records);
  std::mt19937 random(11);
  for (int round = 0; round < 120; ++round) {
    UsageSummaryQuery query{.organization_id = "o1"};
    // Whole days, whole hours and ranges that start and end inside an hour.
    const TimeMs start = kBase - kHour + static_cast<TimeMs>(random() % (4 * kDay));
    query.start_ms = round % 3 == 0 ? start - start % kDay : start;
    query.end_ms = query.start_ms + static_cast<TimeMs>(random() % (3 * kDay)) + 1;
    if (round % 3 == 1) query.end_ms -= query.end_ms % kHour;
    query.group_by = static_cast<UsageDimension>(round % 5);
    query.grain = static_cast<UsageGrain>((round / 5) % 3);
    switch (random() % 6) {
      case 0:
        query.project_id = "p2";
        break;
      case 1:
        query.api_token_id = "t3";
        break;
      case 2:
        query.assistant = "bot";
        break;
      case 3:
        query.model = "fake/other";
        break;
      default:
        break;
    }
    auto rows = store_->SummarizeUsage(query);
    ASSERT_TRUE(rows) << rows.error().internal;
    ExpectSameSums(Collect(*rows), BruteForce(records, query), "round " + std::to_string(round));
  }
}

TEST_F(PgRequestsTest, SummaryLabelsProjectsAndTokensWithTheirCurrentNames) {
  const Organization organization{NewUuid(), "Acme", "", 1};
  ApiToken owner;
  owner.id = NewUuid();
  owner.organization_id = organization.id;
  owner.scope = TokenScope::kOrganization;
  owner.name = "Owner";
  owner.secret_prefix = "gto_abcd";
  ASSERT_TRUE(store_->CreateOrganization(organization, owner, {NewUuid(), {}, {}, {}}));
  const Project project{NewUuid(), organization.id, "", "Support", "", "", true, 2, 2};
  ApiToken token = owner;
  token.id = NewUuid();
  token.scope = TokenScope::kProject;
  token.project_id = project.id;
  token.name = "Default";
  // CreateProject is not on PostgreSQL yet (it goes through CreateProjectWithLimit).
  db_.Execute("INSERT INTO projects(id, organization_id, name, created_at, updated_at) VALUES ('" +
              project.id + "', '" + organization.id + "', 'Support', 2, 2)");
  ASSERT_TRUE(store_->InsertToken(token, {NewUuid(), {}, {}, {}}));

  std::mt19937 random(19);
  std::vector<RequestRecord> records;
  for (int i = 0; i < 3; ++i) {
    records.push_back(MakeRecord(i, kBase + i * 1000, random));
    records.back().organization_id = organization.id;
    records.back().project_id = project.id;
    records.back().api_token_id = i < 2 ? token.id : "gone";
  }
  ASSERT_TRUE(store_->AppendRequests(records));

  UsageSummaryQuery query{.organization_id = organization.id,
                          .start_ms = kBase,
                          .end_ms = kBase + kHour,
                          .group_by = UsageDimension::kToken};
  auto rows = store_->SummarizeUsage(query);
  ASSERT_TRUE(rows) << rows.error().internal;
  ASSERT_EQ(rows->size(), 2u);
  for (const UsageRow& row : *rows) {
    if (row.key == token.id) {
      EXPECT_EQ(row.label, "Default");
      EXPECT_EQ(row.project_id, project.id);
      EXPECT_EQ(row.project_name, "Support");
      EXPECT_EQ(row.totals.requests, 2);
    } else {
      EXPECT_EQ(row.key, "gone");
      EXPECT_EQ(row.label, "");
      EXPECT_EQ(row.totals.requests, 1);
    }
  }
  query.group_by = UsageDimension::kProject;
  rows = store_->SummarizeUsage(query);
  ASSERT_TRUE(rows) << rows.error().internal;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].label, "Support");
  EXPECT_EQ((*rows)[0].totals.requests, 3);
}

TEST_F(PgRequestsTest, RecordsOfTwoMonthsLandInTheirMonthPartitions) {
  // The store made the partitions of the months around now when it started.
  const TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const std::time_t seconds = static_cast<std::time_t>(now / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  utc.tm_mday = 1;
  utc.tm_hour = utc.tm_min = utc.tm_sec = 0;
  const TimeMs month_start = static_cast<TimeMs>(timegm(&utc)) * 1000;
  char this_month[32], last_month[32];
  std::strftime(this_month, sizeof this_month, "requests_%Y_%m", &utc);
  utc.tm_mon -= 1;
  timegm(&utc);  // normalizes January's previous month
  std::strftime(last_month, sizeof last_month, "requests_%Y_%m", &utc);

  std::mt19937 random(23);
  const std::vector<RequestRecord> records = {MakeRecord(1, month_start, random),
                                              MakeRecord(2, month_start + 10 * kHour, random),
                                              MakeRecord(3, month_start - 1, random)};
  ASSERT_TRUE(store_->AppendRequests(records));
  EXPECT_EQ(QueryInt(std::string("SELECT COUNT(*) FROM ") + this_month), 2);
  EXPECT_EQ(QueryInt(std::string("SELECT COUNT(*) FROM ") + last_month), 1);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM requests_default"), 0);
  auto walked = Walk(RequestQuery{.organization_id = "o1"});
  ASSERT_TRUE(walked);
  ExpectSameRecords(*walked, Expected(records, RequestQuery{.organization_id = "o1"}), "walk");
}

// The same records on both stores: the same walks and the same summaries.
TEST_F(PgRequestsTest, WalksAndSummariesMatchTheSqliteStore) {
  const std::vector<RequestRecord> records = ThreeDays(1500, 29);
  Append(records);
  TempDir dir;
  SqliteStore sqlite(dir.File("requests.db").string());
  ASSERT_TRUE(sqlite.AppendRequests(records));
  for (const RequestQuery& query :
       {RequestQuery{.organization_id = "o1", .skip = 3, .count = 700},
        RequestQuery{.organization_id = "o1", .project_id = "p1", .api_token = "ci"}}) {
    auto cursor = sqlite.OpenRequestCursor(query);
    ASSERT_TRUE(cursor);
    auto walked = Walk(query);
    ASSERT_TRUE(walked);
    ExpectSameRecords(*walked, ReadAll(**cursor), "walk");
  }
  for (int grain = 0; grain < 3; ++grain) {
    for (int dimension = 0; dimension < 5; ++dimension) {
      const UsageSummaryQuery query{.organization_id = "o1",
                                    .start_ms = kBase + 12345,
                                    .end_ms = kBase + 2 * kDay + 54321,
                                    .group_by = static_cast<UsageDimension>(dimension),
                                    .grain = static_cast<UsageGrain>(grain)};
      auto on_pg = store_->SummarizeUsage(query);
      auto on_sqlite = sqlite.SummarizeUsage(query);
      ASSERT_TRUE(on_pg && on_sqlite);
      ExpectSameSums(Collect(*on_pg), Collect(*on_sqlite), "summary");
    }
  }
}

}  // namespace
}  // namespace gatehouse
