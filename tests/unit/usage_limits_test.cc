#include "usage/usage_limits.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "core/ids.h"
#include "core/usage_limit.h"
#include "store/sqlite/database.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

TimeMs At(const char* text) { return *ParseTimestamp(text); }

// ---- Periods on UTC calendar boundaries ----

TEST(UsageLimitPeriodTest, DailyPeriodIsTheUtcDay) {
  const auto period = PeriodContaining(SubscriptionType::kDaily, At("2026-11-29T18:30:00Z"));
  EXPECT_EQ(period.start, At("2026-11-29"));
  EXPECT_EQ(period.end, At("2026-11-30"));
}

TEST(UsageLimitPeriodTest, WeeklyPeriodIsTheIsoWeekFromMonday) {
  // 2026-11-29 is a Sunday: its ISO week began on Monday 2026-11-23.
  auto period = PeriodContaining(SubscriptionType::kWeekly, At("2026-11-29T23:59:59.999Z"));
  EXPECT_EQ(period.start, At("2026-11-23"));
  EXPECT_EQ(period.end, At("2026-11-30"));
  period = PeriodContaining(SubscriptionType::kWeekly, At("2026-11-30T00:00:00Z"));
  EXPECT_EQ(period.start, At("2026-11-30"));
  EXPECT_EQ(period.end, At("2026-12-07"));
}

TEST(UsageLimitPeriodTest, MonthlyPeriodIsTheCalendarMonthAcrossYearAndLeapDay) {
  auto period = PeriodContaining(SubscriptionType::kMonthly, At("2026-12-31T23:00:00Z"));
  EXPECT_EQ(period.start, At("2026-12-01"));
  EXPECT_EQ(period.end, At("2027-01-01"));
  period = PeriodContaining(SubscriptionType::kMonthly, At("2028-02-29T12:00:00Z"));
  EXPECT_EQ(period.start, At("2028-02-01"));
  EXPECT_EQ(period.end, At("2028-03-01"));
}

TEST(UsageLimitPeriodTest, FreemiumNeverEnds) {
  const auto period = PeriodContaining(SubscriptionType::kFreemium, At("2026-11-29T10:00:00Z"));
  EXPECT_EQ(period.start, At("2026-11-29T10:00:00Z"));
  EXPECT_FALSE(period.end);
}

UsageLimit Limit(SubscriptionType type, RenewalStatus renewal, TimeMs now) {
  UsageLimit limit;
  limit.subscription = type;
  limit.renewal = renewal;
  limit.hard_limit = 10;
  StartUsageLimit(limit, now);
  return limit;
}

TEST(UsageLimitRollTest, ALimitCreatedMidPeriodStartsAtZeroFromItsCreation) {
  const UsageLimit limit =
      Limit(SubscriptionType::kMonthly, RenewalStatus::kRenewable, At("2026-11-29T18:00:00Z"));
  EXPECT_EQ(limit.used, 0);
  EXPECT_EQ(limit.valid_from, At("2026-11-29T18:00:00Z"));
  EXPECT_EQ(limit.valid_until, At("2026-12-01"));
  EXPECT_EQ(limit.status, LimitStatus::kActive);
}

TEST(UsageLimitRollTest, RenewableStartsTheNextPeriodAtItsBoundaryWithZero) {
  for (auto [type, next_start, next_end] :
       {std::tuple{SubscriptionType::kDaily, "2026-12-01", "2026-12-02"},
        std::tuple{SubscriptionType::kWeekly, "2026-11-30", "2026-12-07"},
        std::tuple{SubscriptionType::kMonthly, "2026-12-01", "2027-01-01"}}) {
    UsageLimit limit = Limit(type, RenewalStatus::kRenewable, At("2026-11-29T18:00:00Z"));
    limit.used = 10;
    SettleUsageLimitStatus(limit);
    ASSERT_EQ(limit.status, LimitStatus::kEmpty);
    EXPECT_FALSE(RollUsageLimit(limit, *limit.valid_until - 1));
    EXPECT_TRUE(RollUsageLimit(limit, At(next_start) + 5000)) << ToString(type);
    EXPECT_EQ(limit.used, 0);
    EXPECT_EQ(limit.status, LimitStatus::kActive);
    EXPECT_EQ(limit.valid_from, At(next_start));
    EXPECT_EQ(limit.valid_until, At(next_end));
  }
}

TEST(UsageLimitRollTest, RenewableSkipsIdlePeriodsToThePeriodContainingNow) {
  UsageLimit limit =
      Limit(SubscriptionType::kDaily, RenewalStatus::kRenewable, At("2026-11-29T18:00:00Z"));
  EXPECT_TRUE(RollUsageLimit(limit, At("2026-12-05T07:00:00Z")));
  EXPECT_EQ(limit.valid_from, At("2026-12-05"));
  EXPECT_EQ(limit.valid_until, At("2026-12-06"));
}

TEST(UsageLimitRollTest, NonRenewableExpiresAtTheEndOfItsPeriod) {
  for (auto type :
       {SubscriptionType::kDaily, SubscriptionType::kWeekly, SubscriptionType::kMonthly}) {
    UsageLimit limit = Limit(type, RenewalStatus::kNonRenewable, At("2026-11-29T18:00:00Z"));
    limit.used = 3;
    EXPECT_TRUE(RollUsageLimit(limit, *limit.valid_until));
    EXPECT_EQ(limit.status, LimitStatus::kExpired);
    EXPECT_EQ(limit.used, 3);
  }
}

TEST(UsageLimitRollTest, FreemiumNeverExpiresNorRenews) {
  for (auto renewal : {RenewalStatus::kRenewable, RenewalStatus::kNonRenewable}) {
    UsageLimit limit = Limit(SubscriptionType::kFreemium, renewal, At("2026-11-29T18:00:00Z"));
    limit.used = 4;
    EXPECT_FALSE(RollUsageLimit(limit, At("2036-01-01")));
    EXPECT_EQ(limit.status, LimitStatus::kActive);
    EXPECT_EQ(limit.used, 4);
  }
}

// ---- The service: enforcement, persistence, crossings ----

class RecordingNotifier final : public LimitNotifier {
 public:
  void Notify(const LimitNotice& notice) override { notices.push_back(notice); }
  std::vector<LimitNotice> notices;
};

class UsageLimitsTest : public ::testing::Test {
 protected:
  UsageLimitsTest() : clock_(At("2026-11-29T18:00:00Z")) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gatehouse-limits-" + std::to_string(::getpid()) + "-" + NewUuid());
    std::filesystem::create_directories(dir_);
    store_ = std::make_unique<SqliteStore>((dir_ / "test.db").string());
    organization_ = Organization{NewUuid(), "Acme", "", clock_.Now()};
    ASSERT_TRUE(store_->CreateOrganization(organization_, Token(""), Credential()));
    project_ = Project{NewUuid(), organization_.id, "Acme",      "Support", "", "",
                       true,      clock_.Now(),     clock_.Now()};
    ASSERT_TRUE(store_->CreateProject(project_, Token(project_.id), Credential()));
    Restart();
  }
  void TearDown() override {
    limits_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A fresh service over the same store, as after a restart.
  void Restart() {
    limits_ = std::make_unique<UsageLimits>(*store_, clock_, &notifier_);
    ASSERT_TRUE(limits_->Load());
  }

  ApiToken Token(const std::string& project_id) {
    ApiToken token;
    token.id = NewUuid();
    token.organization_id = organization_.id;
    token.project_id = project_id;
    token.scope = project_id.empty() ? TokenScope::kOrganization : TokenScope::kProject;
    token.name = "t";
    token.secret_prefix = "gtp_abcd";
    return token;
  }
  TokenCredential Credential() { return TokenCredential{NewUuid(), {}, {}, {}}; }

  UsageLimit Create(const std::string& project_id, UsageUnit unit, double soft, double hard,
                    SubscriptionType type = SubscriptionType::kMonthly,
                    RenewalStatus renewal = RenewalStatus::kRenewable) {
    auto limit =
        limits_->Create(organization_.id, project_id, "entity",
                        UsageLimitSpec{type, unit, soft, hard, renewal}, AuditActor::System());
    EXPECT_TRUE(limit) << (limit ? "" : limit.error().internal);
    return *limit;
  }

  // A monthly limit of `hard` requests on the project, written straight into the store (as
  // another node, or a project's creation before it tracks it, does): not tracked here yet.
  UsageLimit StoredLimit(double hard) {
    const UsageLimit limit =
        NewUsageLimit(organization_.id, project_.id,
                      UsageLimitSpec{SubscriptionType::kMonthly, UsageUnit::kRequests, 0, hard,
                                     RenewalStatus::kRenewable},
                      clock_.Now());
    EXPECT_TRUE(store_->InsertUsageLimit(limit, nullptr));
    return limit;
  }

  Status Call() { return limits_->Admit(organization_.id, project_.id); }

  void Charge(double cost) {
    RequestRecord record;
    record.organization_id = organization_.id;
    record.project_id = project_.id;
    record.cost = cost;
    limits_->OnRecord(record);
  }

  double Used(const std::string& project_id) {
    return limits_->Current(organization_.id, project_id)->used;
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  std::unique_ptr<SqliteStore> store_;
  RecordingNotifier notifier_;
  std::unique_ptr<UsageLimits> limits_;
  Organization organization_;
  Project project_;
};

TEST_F(UsageLimitsTest, RequestsHardLimitRefusesTheCallAfterTheLastAllowedOne) {
  Create(project_.id, UsageUnit::kRequests, 0, 3);
  EXPECT_TRUE(Call());
  EXPECT_TRUE(Call());
  EXPECT_TRUE(Call());  // the third reaches the hard limit and is allowed
  auto refused = Call();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kQuotaExceeded);
  EXPECT_EQ(Used(project_.id), 3);  // a refused call counts nothing
  EXPECT_EQ(limits_->Current(organization_.id, project_.id)->status, LimitStatus::kEmpty);
}

TEST_F(UsageLimitsTest, CostHardLimitRefusesOnceRecordedCostsReachIt) {
  Create(project_.id, UsageUnit::kCost, 0, 0.01);
  EXPECT_TRUE(Call());
  Charge(0.006);
  EXPECT_TRUE(Call());
  Charge(0.006);
  EXPECT_DOUBLE_EQ(Used(project_.id), 0.012);
  EXPECT_FALSE(Call());
}

TEST_F(UsageLimitsTest, OrganizationLimitCountsEveryProjectsCalls) {
  Create("", UsageUnit::kRequests, 0, 2);
  EXPECT_TRUE(Call());
  EXPECT_TRUE(limits_->Admit(organization_.id, NewUuid()));  // another project
  EXPECT_FALSE(Call());
  EXPECT_EQ(Used(""), 2);
}

TEST_F(UsageLimitsTest, AProjectRefusedByItsOrganizationLimitIsNotCharged) {
  Create(project_.id, UsageUnit::kRequests, 0, 10);
  Create("", UsageUnit::kRequests, 0, 1);
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  EXPECT_EQ(Used(project_.id), 1);
}

TEST_F(UsageLimitsTest, SecondCurrentLimitIsAConflict) {
  Create(project_.id, UsageUnit::kRequests, 0, 3);
  auto second = limits_->Create(
      organization_.id, project_.id, "entity",
      UsageLimitSpec{SubscriptionType::kDaily, UsageUnit::kCost, 0, 1, RenewalStatus::kRenewable},
      AuditActor::System());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kConflict);
}

TEST_F(UsageLimitsTest, UsageSurvivesARestart) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 3);
  EXPECT_TRUE(Call());
  EXPECT_TRUE(Call());
  ASSERT_TRUE(limits_->Flush());
  Restart();
  EXPECT_EQ(Used(project_.id), 2);
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  EXPECT_EQ(limits_->Current(organization_.id, project_.id)->id, limit.id);
}

TEST_F(UsageLimitsTest, SoftLimitCrossingIsAnnouncedOncePerPeriodAndAudited) {
  Create(project_.id, UsageUnit::kRequests, 2, 100, SubscriptionType::kDaily);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Call());
  ASSERT_TRUE(limits_->Flush());
  ASSERT_EQ(notifier_.notices.size(), 1u);
  EXPECT_EQ(notifier_.notices[0].action, "limit.soft_crossed");
  EXPECT_EQ(notifier_.notices[0].entity_name, "Support");
  EXPECT_EQ(notifier_.notices[0].limit.used, 2);

  AuditQuery query;
  query.organization_id = organization_.id;
  query.action = "limit.soft_crossed";
  EXPECT_EQ(store_->ListAudit(query)->count, 1);

  clock_.Set(At("2026-11-30T00:00:01Z"));  // the next day: a new period
  ASSERT_TRUE(Call());
  ASSERT_TRUE(Call());
  ASSERT_TRUE(limits_->Flush());
  EXPECT_EQ(notifier_.notices.size(), 2u);
  EXPECT_EQ(store_->ListAudit(query)->count, 2);
}

TEST_F(UsageLimitsTest, RenewableLimitStartsTheNextPeriodAtZeroAndAdmitsAgain) {
  Create(project_.id, UsageUnit::kRequests, 0, 1, SubscriptionType::kWeekly);
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  clock_.Set(At("2026-11-30T00:00:00Z"));  // Monday
  EXPECT_TRUE(Call());
  const UsageLimit current = *limits_->Current(organization_.id, project_.id);
  EXPECT_EQ(current.valid_from, At("2026-11-30"));
  EXPECT_EQ(current.used, 1);
}

// A node alone holds the whole budget as its slice, across the period's end too: the new
// period's calls spend it, and no credit is taken past it before the first settlement.
TEST_F(UsageLimitsTest, ANewPeriodAdmitsExactlyTheHardLimitBeforeItsFirstSettlement) {
  Create(project_.id, UsageUnit::kRequests, 0, 2, SubscriptionType::kWeekly);
  clock_.Set(At("2026-11-30T00:00:00Z"));  // Monday
  EXPECT_TRUE(Call());
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call()) << "a credit past the slice that is the whole budget";
  EXPECT_EQ(Used(project_.id), 2);
}

TEST_F(UsageLimitsTest, NonRenewableLimitExpiresAndStopsGoverning) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 1, SubscriptionType::kDaily,
                                  RenewalStatus::kNonRenewable);
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  clock_.Set(At("2026-11-30T00:00:00Z"));
  EXPECT_TRUE(Call());
  EXPECT_FALSE(limits_->CurrentIfAny(organization_.id, project_.id));
  ASSERT_TRUE(limits_->Flush());
  auto latest = limits_->Latest(organization_.id, project_.id);
  EXPECT_EQ(latest->id, limit.id);
  EXPECT_EQ(latest->status, LimitStatus::kExpired);
  // An expired limit makes room for a new one.
  Create(project_.id, UsageUnit::kRequests, 0, 1);
}

TEST_F(UsageLimitsTest, CancelledLimitAdmitsEverything) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 1);
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  auto cancelled =
      limits_->Cancel(organization_.id, project_.id, limit.id, "Support", AuditActor::System());
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->status, LimitStatus::kCancelled);
  EXPECT_TRUE(Call());
}

// Settlements while calls arrive. A settlement takes the part of the slice it may give away out
// of the node's hands until the store answers; the node had been told that nothing was
// unreserved (it held the budget itself), so calls in that window were refused, a limit's first
// calls included (http_pg.test_usage_limits failed so, now and then). They spend their credit
// instead, which the answer (or, when the store fails, the slice given back to the node) then
// takes out again; and a node alone on the limit keeps its whole slice meanwhile.
class UsageLimitsInFlightTest : public UsageLimitsTest {
 protected:
  // Settles rounds up to `round` (counted from Create's, which is round 1); the last one while
  // another writer holds SQLite's write lock, so that it waits in the store for `hold`, and
  // `during` runs meanwhile. True when that settlement succeeded.
  bool SettleHeldUp(int round, std::chrono::milliseconds hold,
                    const std::function<void()>& during) {
    for (int i = 2; i < round; ++i) EXPECT_TRUE(limits_->Flush());
    sqlite::Database other;
    other.Open((dir_ / "test.db").string());
    EXPECT_TRUE(other.Execute("BEGIN IMMEDIATE"));
    bool settled = false;
    std::thread settling([&] { settled = limits_->Flush().has_value(); });
    // The round reads the limits (no write lock needed), then waits for the store.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    during();
    std::this_thread::sleep_for(hold);
    EXPECT_TRUE(other.Execute("COMMIT"));
    settling.join();
    return settled;
  }

  // Round 5 checks idle slices (UsageLimits' kIdleCheckRounds): a node alone keeps its slice.
  static constexpr int kIdleRound = 5;
  // With `other_` asking for a slice, round 5 shows it to this node, and round 6 gives this
  // node's idle slice back to the store.
  static constexpr int kGiveBackRound = 6;

  // A second node asks for a slice of the limit this node holds alone.
  void ShareTheLimit() {
    other_ = std::make_unique<UsageLimits>(*store_, clock_, &notifier_, "b");
    ASSERT_TRUE(other_->Load());
    EXPECT_FALSE(other_->Admit(organization_.id, project_.id));  // the holder has it all
    ASSERT_TRUE(other_->Flush());
  }

  std::unique_ptr<UsageLimits> other_;
};

TEST_F(UsageLimitsInFlightTest, ANodeAloneSpendsItsWholeSliceWhileItIsBeingSettled) {
  Create(project_.id, UsageUnit::kRequests, 0, 3);
  std::vector<Status> during;
  EXPECT_TRUE(SettleHeldUp(kIdleRound, std::chrono::milliseconds(0), [&] {
    for (int i = 0; i < 3; ++i) during.push_back(Call());
  }));
  for (const Status& call : during) {
    EXPECT_TRUE(call) << "refused with budget left while the slice was being settled";
  }
  EXPECT_FALSE(Call());
  EXPECT_EQ(Used(project_.id), 3);
}

TEST_F(UsageLimitsInFlightTest, ACallWhileAnIdleSliceIsGivenBackSpendsCreditAndStaysCounted) {
  Create(project_.id, UsageUnit::kRequests, 0, 2);
  ShareTheLimit();
  Status during;
  EXPECT_TRUE(SettleHeldUp(kGiveBackRound, std::chrono::milliseconds(0), [&] { during = Call(); }));
  EXPECT_TRUE(during) << "refused while the slice was being settled";
  // Before any further settlement: the credit came out of what the answer granted (nothing),
  // and the store still had budget unreserved, so one more credit.
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  EXPECT_EQ(Used(project_.id), 2);
}

TEST_F(UsageLimitsInFlightTest, ACallWhileASettlementFailsIsTakenOutOfTheSliceGivenBack) {
  Create(project_.id, UsageUnit::kRequests, 0, 2);
  ShareTheLimit();
  Status during;
  // Held past the store's write budget (2 s): the settlement fails with 503.
  EXPECT_FALSE(
      SettleHeldUp(kGiveBackRound, std::chrono::milliseconds(2500), [&] { during = Call(); }));
  EXPECT_TRUE(during) << "refused while the slice was being settled";
  // The slice came back to the node less the credit spent: one call left.
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  EXPECT_EQ(Used(project_.id), 2);
}

// A settlement that keeps the whole slice takes nothing the node could spend credit out of:
// credit spent while it fails stays credit (it once became a second credit: hard + 2).
TEST_F(UsageLimitsInFlightTest, CreditSpentWhileAKeptSliceFailsToSettleIsNotGivenAgain) {
  UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 2);
  // Raised to 3 on another node: the next round sees it, may spend credit again, and settles.
  limit.hard_limit = 3;
  ASSERT_TRUE(store_->UpdateUsageLimit(limit, nullptr));
  std::vector<Status> during;
  EXPECT_FALSE(SettleHeldUp(2, std::chrono::milliseconds(2500), [&] {
    for (int i = 0; i < 3; ++i) during.push_back(Call());
  }));
  for (const Status& call : during) EXPECT_TRUE(call);  // the slice of 2, then the credit
  EXPECT_FALSE(Call()) << "a second credit past the hard limit";
  EXPECT_EQ(Used(project_.id), 3);
}

// A limit this node starts tracking (created on another node, here straight in the store) is
// settled before calls see it. It was seen at once, holding no slice yet: a call while its first
// settlement waited for the store spent the credit, and the next was refused with the whole
// budget unspent.
TEST_F(UsageLimitsInFlightTest, CallsWhileANewLimitIsFirstSettledAreNotRefused) {
  const UsageLimit limit = StoredLimit(3);
  std::vector<Status> during;
  EXPECT_TRUE(SettleHeldUp(2, std::chrono::milliseconds(0), [&] {
    for (int i = 0; i < 2; ++i) during.push_back(Call());
  }));
  for (const Status& call : during) {
    EXPECT_TRUE(call) << "refused while the new limit's first settlement was in flight";
  }
  // Calls before the node tracked the limit are not its usage: the whole budget is left.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  EXPECT_EQ(Used(project_.id), 3);
}

// A project created with a limit stores it, then tracks it; the settling thread may have found
// it in the store first. Tracking it again keeps the counter that calls already count on.
TEST_F(UsageLimitsTest, ALimitTrackedTwiceKeepsTheCallsCountedOnIt) {
  const UsageLimit limit = StoredLimit(100);
  ASSERT_TRUE(limits_->Flush());  // the settling thread's reconciliation finds it
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Call());
  limits_->Track(limit);  // the project's creation, after
  ASSERT_TRUE(limits_->Flush());
  EXPECT_EQ(Used(project_.id), 3);
  EXPECT_EQ(store_->ListCurrentUsageLimits()->front().used, 3);
}

TEST_F(UsageLimitsTest, RaisingTheHardLimitReopensAnEmptyLimit) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 1);
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  UsageLimitChange change;
  change.hard_limit = 2;
  auto changed = limits_->Change(organization_.id, project_.id, limit.id, "Support", change,
                                 AuditActor::System());
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->status, LimitStatus::kActive);
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
}

// Two changes at once, one raising the soft limit and one lowering the hard limit, were each
// checked against the old values by the API and could together leave soft above hard: Change
// checks the limit as it will be, under its write lock.
TEST_F(UsageLimitsTest, AChangeThatWouldLeaveTheSoftLimitAboveTheHardOneIsRefused) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 100, 1000);
  UsageLimitChange soft;
  soft.soft_limit = 900;
  ASSERT_TRUE(limits_->Change(organization_.id, project_.id, limit.id, "Support", soft,
                              AuditActor::System()));
  UsageLimitChange hard;
  hard.hard_limit = 500;
  auto refused = limits_->Change(organization_.id, project_.id, limit.id, "Support", hard,
                                 AuditActor::System());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kOutOfRange);
  auto current = limits_->Current(organization_.id, project_.id);
  ASSERT_TRUE(current);
  EXPECT_EQ(current->soft_limit, 900);
  EXPECT_EQ(current->hard_limit, 1000);
}

// The event loops take a limit's counter for every call (Admit, OnRecord). A change or a
// cancellation that waits for the store (here another writer holds SQLite's write lock) must
// not hold it meanwhile: a loop never waits on a lock.
class UsageLimitsWriteTest : public UsageLimitsTest {
 protected:
  // Runs `write` on a thread while another connection holds the store's write lock for 1 s, and
  // times `during`, started 100 ms into that wait.
  std::chrono::milliseconds TimeWhileAWriteWaits(const std::function<void()>& write,
                                                 const std::function<void()>& during) {
    sqlite::Database other;
    other.Open((dir_ / "test.db").string());
    EXPECT_TRUE(other.Execute("BEGIN IMMEDIATE"));
    std::thread writing(write);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto start = std::chrono::steady_clock::now();
    during();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
    EXPECT_TRUE(other.Execute("COMMIT"));
    writing.join();
    return took;
  }
};

TEST_F(UsageLimitsWriteTest, CallsAreCountedWithoutWaitingWhileAChangeOfTheirLimitIsStored) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 100);
  UsageLimitChange change;
  change.hard_limit = 200;
  Result<UsageLimit> changed = std::unexpected(Error(ErrorCode::kInternal));
  Status admitted;
  const auto took = TimeWhileAWriteWaits(
      [&] {
        changed = limits_->Change(organization_.id, project_.id, limit.id, "Support", change,
                                  AuditActor::System());
      },
      [&] { admitted = Call(); });
  EXPECT_LT(took.count(), 500) << "the call waited for the change's store write";
  EXPECT_TRUE(admitted);
  ASSERT_TRUE(changed) << changed.error().internal;
  EXPECT_EQ(changed->hard_limit, 200);
  EXPECT_EQ(changed->used, 1) << "the call counted during the change was lost";
  EXPECT_EQ(Used(project_.id), 1);
}

// Calls counted while a raise of the hard limit is being stored reach the old bound: that
// crossing is not announced, and the crossing of the new bound is.
TEST_F(UsageLimitsWriteTest, ACrossingOfTheOldBoundDuringAChangeIsNotAnnounced) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 2);
  UsageLimitChange change;
  change.hard_limit = 4;
  TimeWhileAWriteWaits(
      [&] {
        ASSERT_TRUE(limits_->Change(organization_.id, project_.id, limit.id, "Support", change,
                                    AuditActor::System()));
      },
      [&] {
        EXPECT_TRUE(Call());
        EXPECT_TRUE(Call());
      });
  ASSERT_TRUE(limits_->Flush());
  EXPECT_TRUE(notifier_.notices.empty()) << notifier_.notices.front().limit.hard_limit;
  EXPECT_TRUE(Call());
  EXPECT_TRUE(Call());
  EXPECT_FALSE(Call());
  ASSERT_TRUE(limits_->Flush());
  ASSERT_EQ(notifier_.notices.size(), 1u);
  EXPECT_EQ(notifier_.notices[0].action, "limit.hard_crossed");
  EXPECT_EQ(notifier_.notices[0].limit.hard_limit, 4);
}

TEST_F(UsageLimitsWriteTest, CallsAreAdmittedWithoutWaitingWhileTheirLimitIsCancelled) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kCost, 0, 100);
  Result<UsageLimit> cancelled = std::unexpected(Error(ErrorCode::kInternal));
  Status admitted;
  const auto took = TimeWhileAWriteWaits(
      [&] {
        cancelled = limits_->Cancel(organization_.id, project_.id, limit.id, "Support",
                                    AuditActor::System());
      },
      [&] {
        admitted = Call();
        Charge(1);
      });
  EXPECT_LT(took.count(), 500) << "the call waited for the cancellation's store write";
  EXPECT_TRUE(admitted);
  ASSERT_TRUE(cancelled) << cancelled.error().internal;
  EXPECT_EQ(cancelled->status, LimitStatus::kCancelled);
  EXPECT_FALSE(limits_->Current(organization_.id, project_.id));
}

TEST_F(UsageLimitsTest, LimitIdsOfOtherOwnersAreNotFound) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 1);
  auto other_org = limits_->Cancel(NewUuid(), project_.id, limit.id, "x", AuditActor::System());
  ASSERT_FALSE(other_org);
  EXPECT_EQ(other_org.error().code(), ErrorCode::kUsageLimitNotFound);
  auto org_path = limits_->Cancel(organization_.id, "", limit.id, "x", AuditActor::System());
  ASSERT_FALSE(org_path);
  EXPECT_EQ(org_path.error().code(), ErrorCode::kUsageLimitNotFound);
}

// ---- Several nodes on one store: slices of the budget ----

// A second node (another UsageLimits with its own node id) on the same store, as a second
// server on the same PostgreSQL database would be.
class UsageLimitsAcrossNodesTest : public UsageLimitsTest {
 protected:
  std::unique_ptr<UsageLimits> Node(const std::string& node_id) {
    auto node = std::make_unique<UsageLimits>(*store_, clock_, &notifier_, node_id);
    EXPECT_TRUE(node->Load());
    return node;
  }
  Status CallOn(UsageLimits& node) { return node.Admit(organization_.id, project_.id); }
  // Every settlement round checks idle slices (UsageLimits' kIdleCheckRounds).
  static constexpr int kRounds = 5;
  void SettleRounds(std::initializer_list<UsageLimits*> nodes, int rounds = kRounds) {
    for (int i = 0; i < rounds; ++i) {
      for (UsageLimits* node : nodes) ASSERT_TRUE(node->Flush());
    }
  }
  // Makes `calls` admitted calls on `node`, settling every node after a refusal (as their
  // settling threads do); false when they are not all admitted within a few rounds.
  bool Spend(UsageLimits& node, int calls, std::initializer_list<UsageLimits*> nodes) {
    for (int attempt = 0; calls > 0 && attempt < 50; ++attempt) {
      if (CallOn(node)) {
        --calls;
      } else {
        for (UsageLimits* each : nodes) (void)each->Flush();
      }
    }
    return calls == 0;
  }
  double UsedOn(UsageLimits& node) { return node.Current(organization_.id, project_.id)->used; }
};

TEST_F(UsageLimitsAcrossNodesTest, UsageCountedOnEachNodeAddsUpInTheStoreAndOnEveryNode) {
  Create(project_.id, UsageUnit::kRequests, 0, 1000);
  auto other = Node("b");
  ASSERT_TRUE(Spend(*limits_, 3, {limits_.get(), other.get()}));
  ASSERT_TRUE(Spend(*other, 2, {limits_.get(), other.get()}));
  SettleRounds({other.get(), limits_.get()});
  EXPECT_EQ(UsedOn(*limits_), 5);
  EXPECT_EQ(UsedOn(*other), 5);
  EXPECT_EQ(store_->ListCurrentUsageLimits()->front().used, 5);
}

TEST_F(UsageLimitsAcrossNodesTest, ANodeJoiningALimitHeldByAnotherGetsAShareOnceTheHolderSettles) {
  Create(project_.id, UsageUnit::kRequests, 0, 100);  // node "local", alone, holds all 100
  auto other = Node("b");
  // The second node has no slice and nothing is unreserved: refused, never admitted past the
  // hard limit on credit.
  EXPECT_FALSE(CallOn(*other));
  ASSERT_TRUE(Call());
  ASSERT_TRUE(other->Flush());  // asks for a slice: none free, but the holder will see it
  SettleRounds({limits_.get()}, 2 * kRounds);  // sees it, then gives back all but its share
  ASSERT_TRUE(other->Flush());
  EXPECT_TRUE(CallOn(*other));
}

TEST_F(UsageLimitsAcrossNodesTest, ThreeNodesNeverAdmitMoreThanTheHardLimitPlusOneCallEach) {
  constexpr double kHard = 60;
  Create(project_.id, UsageUnit::kRequests, 0, kHard);
  std::vector<UsageLimits*> nodes{limits_.get()};
  auto b = Node("b");
  auto c = Node("c");
  nodes.push_back(b.get());
  nodes.push_back(c.get());
  int admitted = 0;
  unsigned seed = 7;
  auto next = [&seed] { return (seed = seed * 1103515245 + 12345) >> 16; };
  // Each round every node takes 1 to 6 calls and some nodes settle, in a varying order, until
  // nothing has been admitted anywhere for 20 rounds.
  for (int quiet = 0, round = 0; quiet < 20 && round < 2000; ++round) {
    int in_round = 0;
    for (UsageLimits* node : nodes) {
      for (unsigned k = next() % 6 + 1; k > 0; --k) in_round += CallOn(*node) ? 1 : 0;
    }
    for (UsageLimits* node : nodes) {
      if (next() % 2 == 0) {
        ASSERT_TRUE(node->Flush());
      }
    }
    admitted += in_round;
    quiet = in_round == 0 ? quiet + 1 : 0;
  }
  EXPECT_LE(admitted, kHard + nodes.size());
  EXPECT_GE(admitted, kHard);
  for (UsageLimits* node : nodes) ASSERT_TRUE(node->Flush());
  EXPECT_EQ(store_->ListCurrentUsageLimits()->front().used, admitted);
}

TEST_F(UsageLimitsAcrossNodesTest, ASliceGivenBackAtShutdownServesTheOtherNodes) {
  Create(project_.id, UsageUnit::kRequests, 0, 5);
  auto other = Node("b");
  ASSERT_TRUE(Call());
  EXPECT_FALSE(CallOn(*other));          // the holder has the rest
  ASSERT_TRUE(limits_->StopSettling());  // settles 1 and gives back the other 4
  ASSERT_TRUE(other->Flush());
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(CallOn(*other)) << i;
  EXPECT_FALSE(CallOn(*other));
  EXPECT_EQ(UsedOn(*other), 5);
}

TEST_F(UsageLimitsAcrossNodesTest, ACrossingSeenOnTwoNodesIsAnnouncedOnce) {
  Create(project_.id, UsageUnit::kRequests, 2, 1000);
  auto other = Node("b");
  ASSERT_TRUE(Spend(*limits_, 2, {limits_.get(), other.get()}));
  ASSERT_TRUE(Spend(*other, 3, {limits_.get(), other.get()}));
  SettleRounds({limits_.get(), other.get()});
  ASSERT_EQ(notifier_.notices.size(), 1u);
  EXPECT_EQ(notifier_.notices[0].action, "limit.soft_crossed");
  AuditQuery query;
  query.organization_id = organization_.id;
  query.action = "limit.soft_crossed";
  EXPECT_EQ(store_->ListAudit(query)->count, 1);
}

TEST_F(UsageLimitsAcrossNodesTest, ALimitRaisedOrCancelledOnOneNodeReachesTheOther) {
  const UsageLimit limit = Create(project_.id, UsageUnit::kRequests, 0, 1);
  auto other = Node("b");
  ASSERT_TRUE(Call());
  EXPECT_FALSE(Spend(*other, 1, {limits_.get(), other.get()}));
  UsageLimitChange change;
  change.hard_limit = 3;
  ASSERT_TRUE(limits_->Change(organization_.id, project_.id, limit.id, "Support", change,
                              AuditActor::System()));
  // The first node asked lately and may keep a slice of one: the other gets at least one.
  EXPECT_TRUE(Spend(*other, 1, {limits_.get(), other.get()}));
  SettleRounds({limits_.get(), other.get()});
  EXPECT_LE(UsedOn(*other), 3);
  ASSERT_TRUE(
      limits_->Cancel(organization_.id, project_.id, limit.id, "Support", AuditActor::System()));
  EXPECT_TRUE(Spend(*other, 5, {limits_.get(), other.get()}));
}

TEST_F(UsageLimitsAcrossNodesTest, ACostLimitOnThreeNodesOvershootsByCreditAndCallsInFlightAtMost) {
  constexpr double kHard = 1.0;
  constexpr double kCost = 0.013;  // one call's cost, charged when its record is produced
  Create(project_.id, UsageUnit::kCost, 0, kHard);
  auto b = Node("b");
  auto c = Node("c");
  std::vector<UsageLimits*> nodes{limits_.get(), b.get(), c.get()};
  auto charge = [&](UsageLimits& node) {
    RequestRecord record;
    record.organization_id = organization_.id;
    record.project_id = project_.id;
    record.cost = kCost;
    node.OnRecord(record);
  };
  double charged = 0;
  for (int quiet = 0, round = 0; quiet < 20 && round < 2000; ++round) {
    int in_round = 0;
    for (UsageLimits* node : nodes) {
      // Two calls in flight at once on each node: both admitted before either is charged.
      const bool first = CallOn(*node).has_value();
      const bool second = CallOn(*node).has_value();
      for (bool admitted : {first, second}) {
        if (!admitted) continue;
        charge(*node);
        charged += kCost;
        ++in_round;
      }
    }
    for (UsageLimits* node : nodes) ASSERT_TRUE(node->Flush());
    quiet = in_round == 0 ? quiet + 1 : 0;
  }
  // Per node: one credit (a thousandth of the hard limit) plus its calls in flight.
  EXPECT_LE(charged, kHard + nodes.size() * (kHard / 1000 + 2 * kCost) + 1e-9);
  EXPECT_GE(charged, kHard);
  EXPECT_NEAR(store_->ListCurrentUsageLimits()->empty()
                  ? store_->ListUsageLimits(organization_.id, project_.id)->front().used
                  : store_->ListCurrentUsageLimits()->front().used,
              charged, 1e-9);
}

}  // namespace
}  // namespace gatehouse
