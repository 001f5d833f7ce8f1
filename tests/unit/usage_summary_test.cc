#include <gtest/gtest.h>

#include <map>
#include <random>
#include <tuple>

#include "core/time_zone.h"
#include "store/sqlite/migrations.h"
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
  RequestRecord record;
  record.id = "r" + std::to_string(i);
  record.organization_id = "o1";
  record.project_id = kProjects[random() % 2];
  record.api_token_id = kTokens[random() % 3];
  record.api_token_name = "Default";
  if (random() % 3 == 0) record.assistant = "bot";
  record.model = kModels[random() % 2];
  record.status = random() % 4 == 0 ? "failed" : "succeeded";
  record.start_ms = at;
  record.end_ms = at + static_cast<TimeMs>(random() % 5000);
  record.prompt_tokens = static_cast<std::int64_t>(random() % 100);
  record.completion_tokens = static_cast<std::int64_t>(random() % 50);
  record.cost = static_cast<double>(random() % 1000) / 1e6;
  return record;
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

void ExpectSame(const Sums& actual, const Sums& expected, const std::string& what) {
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

class UsageSummaryTest : public ::testing::Test {
 protected:
  // Three days of records in batches, some hours busy and some empty; every other batch as the
  // writer stores a fresh one (many records per statement), the others as a replay.
  void SetUp() override {
    std::mt19937 random(7);
    std::vector<RequestRecord> batch;
    int batches = 0;
    for (int i = 0; i < 3000; ++i) {
      records_.push_back(MakeRecord(i, kBase + static_cast<TimeMs>(random() % (3 * kDay)), random));
      batch.push_back(records_.back());
      if (batch.size() == 250) {
        ASSERT_TRUE(store_.AppendRequests(batch, ++batches % 2 ? Store::RecordArrival::kFresh
                                                               : Store::RecordArrival::kMayRepeat));
        batch.clear();
      }
    }
    ASSERT_TRUE(store_.AppendRequests(batch));
  }

  TempDir dir_;
  SqliteStore store_{dir_.File("usage.db").string()};
  std::vector<RequestRecord> records_;
};

TEST_F(UsageSummaryTest, EveryGroupingFilterAndRangeMatchesABruteForceSumOverTheRecords) {
  std::mt19937 random(11);
  const UsageDimension dimensions[] = {UsageDimension::kNone, UsageDimension::kProject,
                                       UsageDimension::kToken, UsageDimension::kAssistant,
                                       UsageDimension::kModel};
  for (int round = 0; round < 150; ++round) {
    UsageSummaryQuery query;
    query.organization_id = "o1";
    query.group_by = dimensions[round % 5];
    const UsageGrain grains[] = {UsageGrain::kTotal, UsageGrain::kHour, UsageGrain::kUtcDay};
    query.grain = grains[(round / 5) % 3];
    // Ranges that start and end mid-hour, on hour and day boundaries, inside one hour, and
    // across whole days (which come from the daily rollups).
    const TimeMs a = kBase - kHour + static_cast<TimeMs>(random() % (3 * kDay + 2 * kHour));
    const TimeMs length = round % 7 == 0 ? static_cast<TimeMs>(random() % kHour)
                                         : static_cast<TimeMs>(random() % (3 * kDay));
    query.start_ms = round % 6 == 0 ? a - a % kDay : round % 3 == 0 ? a - a % kHour : a;
    query.end_ms = query.start_ms + length + 1;
    if (round % 4 == 1) query.project_id = "p2";
    if (round % 4 == 2) query.api_token_id = "t3";
    if (round % 8 == 3) query.assistant = "bot";
    if (round % 8 == 7) query.model = "fake/other";
    auto rows = store_.SummarizeUsage(query);
    ASSERT_TRUE(rows) << rows.error().internal;
    ExpectSame(Collect(*rows), BruteForce(records_, query), "round " + std::to_string(round));
  }
}

TEST_F(UsageSummaryTest, ARecordStoredTwiceCountsOnce) {
  // The request log writes a batch again after a failed commit, and start-up replays records
  // that may already be stored: neither may count twice.
  std::vector<RequestRecord> again(records_.begin(), records_.begin() + 100);
  ASSERT_TRUE(store_.AppendRequests(again));
  UsageSummaryQuery query{.organization_id = "o1", .start_ms = kBase, .end_ms = kBase + 3 * kDay};
  auto rows = store_.SummarizeUsage(query);
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(rows->front().totals.requests, 3000);
}

TEST_F(UsageSummaryTest, GroupsByProjectAndTokenCarryTheirCurrentNames) {
  UsageSummaryQuery query{.organization_id = "o1",
                          .start_ms = kBase,
                          .end_ms = kBase + 3 * kDay,
                          .group_by = UsageDimension::kToken};
  auto rows = store_.SummarizeUsage(query);
  ASSERT_TRUE(rows);
  // These tokens exist only in the records: their label is empty rather than invented.
  for (const auto& row : *rows) EXPECT_EQ(row.label, "");
}

TEST(UsageRollupMigrationTest, RecordsStoredBeforeTheRollupsExistedAreCounted) {
  TempDir dir;
  const std::string path = dir.File("old.db").string();
  std::mt19937 random(3);
  std::vector<RequestRecord> records;
  {
    sqlite::Database db;
    db.Open(path);
    ASSERT_EQ(sqlite::Migrate(db, 8).value(), 8);
    for (int i = 0; i < 200; ++i) {
      records.push_back(MakeRecord(i, kBase + static_cast<TimeMs>(random() % kDay), random));
      const auto& r = records.back();
      ASSERT_TRUE(db.Execute(
          "INSERT INTO requests(id, organization_id, project_id, api_token_id, api_token_name, "
          "assistant, module, model, status, http_status, start_ms, end_ms, prompt_tokens, "
          "completion_tokens, total_tokens, cost) VALUES ('" +
          r.id + "', 'o1', '" + r.project_id + "', '" + r.api_token_id + "', 'Default', " +
          (r.assistant ? "'bot'" : "NULL") + ", 'chat', '" + r.model + "', '" + r.status +
          "', 200, " + std::to_string(r.start_ms) + ", " + std::to_string(r.end_ms) + ", " +
          std::to_string(r.prompt_tokens) + ", " + std::to_string(r.completion_tokens) + ", 0, " +
          std::to_string(r.cost) + ")"));
    }
  }
  SqliteStore store(path);
  // Hours come from the hourly rollups of migration 9, the whole day from the daily ones of 10.
  for (auto grain : {UsageGrain::kHour, UsageGrain::kUtcDay, UsageGrain::kTotal}) {
    for (auto dimension : {UsageDimension::kNone, UsageDimension::kToken, UsageDimension::kModel}) {
      UsageSummaryQuery query{.organization_id = "o1",
                              .start_ms = kBase,
                              .end_ms = kBase + kDay,
                              .group_by = dimension,
                              .grain = grain};
      auto rows = store.SummarizeUsage(query);
      ASSERT_TRUE(rows);
      ExpectSame(Collect(*rows), BruteForce(records, query), "migrated");
    }
  }
}

TEST(TimeZoneTest, OnlyZonesWithoutAnyOffsetCountAsUtc) {
  // Day buckets of these come from the daily rollups, so the test is exact: any offset at any
  // time would put records in the wrong local day.
  EXPECT_TRUE(TimeZone::Utc().IsUtc());
  for (const char* name : {"UTC", "Etc/UTC"}) {
    auto zone = TimeZone::Load(name);
    ASSERT_TRUE(zone) << name;
    EXPECT_TRUE(zone->IsUtc()) << name;
  }
  for (const char* name : {"Europe/London", "Europe/Berlin", "Etc/GMT+3", "Asia/Kolkata"}) {
    auto zone = TimeZone::Load(name);
    ASSERT_TRUE(zone) << name;
    EXPECT_FALSE(zone->IsUtc()) << name;
  }
}

TEST(TimeZoneTest, DayStartsFollowTheZoneAndItsDaylightSavingTime) {
  auto berlin = TimeZone::Load("Europe/Berlin");
  ASSERT_TRUE(berlin);
  // 2025-07-01T10:00Z is summer (UTC+2): the day began at 2025-06-30T22:00Z.
  const TimeMs july = 1'751'364'000'000;
  EXPECT_EQ(berlin->OffsetAt(july), 2 * kHour);
  EXPECT_EQ(berlin->StartOfDay(july), july - 12 * kHour);
  // 2025-12-01T00:30Z is winter (UTC+1) and already 01:30 local: the day began at 23:00Z.
  EXPECT_EQ(berlin->StartOfDay(kBase + kHour / 2), kBase - kHour);
  // 2025-03-30, the spring-forward day, began at 2025-03-29T23:00Z (still UTC+1).
  const TimeMs spring_noon = 1'743'336'000'000;  // 2025-03-30T12:00Z
  EXPECT_EQ(berlin->StartOfDay(spring_noon), spring_noon - 13 * kHour);

  auto kolkata = TimeZone::Load("Asia/Kolkata");
  ASSERT_TRUE(kolkata);
  EXPECT_EQ(kolkata->StartOfDay(kBase), kBase - 5 * kHour - kHour / 2);
  EXPECT_EQ(TimeZone::Utc().StartOfDay(kBase + 5 * kHour), kBase);
}

TEST(TimeZoneTest, NamesThatAreNotZonesAreRefusedWithoutReadingOutsideTheDatabase) {
  for (const char* name : {"../../etc/passwd", "/etc/localtime", "Mars/Olympus_Mons", "",
                           "Europe/../../../etc/hostname", "Europe/Berlin\n"}) {
    auto zone = TimeZone::Load(name);
    ASSERT_FALSE(zone) << name;
    EXPECT_EQ(zone.error().code(), ErrorCode::kPattern) << name;
  }
  EXPECT_TRUE(TimeZone::Load("UTC"));
}

}  // namespace
}  // namespace gatehouse
