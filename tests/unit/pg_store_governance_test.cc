#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "pg_test_database.h"
#include "store/postgres/pg_store.h"

namespace gatehouse {
namespace {

class PgGovernanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.available()) GTEST_SKIP() << db_.skip_reason();
    store_ = std::make_unique<PgStore>(PgStore::Options{.url = db_.url()});
    organization_ = Organization{NewUuid(), "Acme", "", 1};
    ASSERT_TRUE(
        store_->CreateOrganization(organization_, OrganizationToken("Owner"), Credential()));
  }

  ApiToken OrganizationToken(const std::string& name) {
    ApiToken token;
    token.id = NewUuid();
    token.organization_id = organization_.id;
    token.scope = TokenScope::kOrganization;
    token.name = name;
    token.created_at = token.updated_at = ++clock_;
    token.secret_prefix = "gto_abcd";
    return token;
  }

  TokenCredential Credential() { return TokenCredential{NewUuid(), {}, {}, {}}; }

  Project MakeProject(const std::string& name) {
    Project project{NewUuid(), organization_.id, "", name, "", "", true, ++clock_, clock_};
    ApiToken token = OrganizationToken("Default");
    token.scope = TokenScope::kProject;
    token.project_id = project.id;
    EXPECT_TRUE(store_->CreateProject(project, token, Credential()));
    return project;
  }

  UsageLimit Limit(const std::string& project_id, LimitStatus status = LimitStatus::kActive) {
    UsageLimit limit;
    limit.id = NewUuid();
    limit.organization_id = organization_.id;
    limit.project_id = project_id;
    limit.subscription = SubscriptionType::kMonthly;
    limit.unit = UsageUnit::kCost;
    limit.soft_limit = 7.5;
    limit.hard_limit = 10.25;
    limit.status = status;
    limit.valid_from = 1000;
    limit.valid_until = 2000;
    limit.created_at = limit.updated_at = ++clock_;
    return limit;
  }

  Assistant MakeAssistant(const Project& project, const std::string& name) {
    Assistant assistant;
    assistant.id = NewUuid();
    assistant.organization_id = organization_.id;
    assistant.project_id = project.id;
    assistant.name = name;
    assistant.prompt = "You help.";
    assistant.llm = LlmSettings{"openai", "gpt-4o", 0.25, 512};
    assistant.created_at = assistant.updated_at = ++clock_;
    return assistant;
  }

  AuditEntry Event(const std::string& action, const std::string& target_id, TimeMs at) {
    AuditEntry entry;
    entry.organization_id = organization_.id;
    entry.action = action;
    entry.target_id = target_id;
    entry.at = at;
    entry.actor_token_id = "actor-1";
    entry.target_type = "limit";
    entry.details = R"({"name":{"from":"a","to":"b"}})";
    return entry;
  }

  PgTestDatabase db_;  // declared before store_, so it outlives it
  std::unique_ptr<PgStore> store_;
  Organization organization_;
  TimeMs clock_ = 100;
};

TEST_F(PgGovernanceTest, SecondCurrentLimitOfAnOwnerIsAConflictAndLeavesNoAudit) {
  const Project project = MakeProject("Support");
  ASSERT_TRUE(store_->InsertUsageLimit(Limit(project.id), nullptr));
  const AuditEntry audit = Event("limit.create", "second", 5000);
  auto second = store_->InsertUsageLimit(Limit(project.id, LimitStatus::kEmpty), &audit);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kConflict);
  auto listed =
      store_->ListAudit(AuditQuery{.organization_id = organization_.id, .action = "limit.create"});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->count, 0);

  // The organization's own limit and a cancelled one of the project are other owners or not
  // current; the store still works after the refused insert.
  EXPECT_TRUE(store_->InsertUsageLimit(Limit(""), nullptr));
  EXPECT_TRUE(store_->InsertUsageLimit(Limit(project.id, LimitStatus::kCancelled), nullptr));
  auto organization_limit = store_->InsertUsageLimit(Limit(""), nullptr);
  ASSERT_FALSE(organization_limit);
  EXPECT_EQ(organization_limit.error().code(), ErrorCode::kConflict);
}

TEST_F(PgGovernanceTest, ProjectWithAConflictingLimitIsNotCreated) {
  const Project project = MakeProject("Support");
  UsageLimit first = Limit(project.id);
  ASSERT_TRUE(store_->InsertUsageLimit(first, nullptr));
  Project other{NewUuid(), organization_.id, "", "Other", "", "", true, ++clock_, clock_};
  ApiToken token = OrganizationToken("Default");
  token.scope = TokenScope::kProject;
  token.project_id = other.id;
  UsageLimit clash = Limit(project.id);
  auto created = store_->CreateProjectWithLimit(other, token, Credential(), &clash, {});
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kConflict);
  auto found = store_->FindProject(organization_.id, other.id);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->has_value());
}

TEST_F(PgGovernanceTest, LimitsRoundTripAndListNewestFirst) {
  const Project project = MakeProject("Support");
  UsageLimit old = Limit(project.id, LimitStatus::kExpired);
  UsageLimit current = Limit(project.id);
  current.soft_crossed_in = 1000;
  ASSERT_TRUE(store_->InsertUsageLimit(old, nullptr));
  ASSERT_TRUE(store_->InsertUsageLimit(current, nullptr));
  ASSERT_TRUE(store_->InsertUsageLimit(Limit(""), nullptr));

  auto listed = store_->ListUsageLimits(organization_.id, project.id);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].id, current.id);
  EXPECT_EQ((*listed)[1].id, old.id);
  EXPECT_EQ((*listed)[0].project_id, project.id);
  EXPECT_EQ((*listed)[0].soft_crossed_in, 1000);
  EXPECT_FALSE((*listed)[0].hard_crossed_in);

  auto found = store_->FindUsageLimit(organization_.id, current.id);
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->soft_limit, 7.5);
  EXPECT_EQ((*found)->hard_limit, 10.25);
  EXPECT_EQ((*found)->unit, UsageUnit::kCost);
  EXPECT_EQ((*found)->valid_until, 2000);
  auto elsewhere = store_->FindUsageLimit("another-organization", current.id);
  ASSERT_TRUE(elsewhere);
  EXPECT_FALSE(elsewhere->has_value());

  auto organization_limits = store_->ListUsageLimits(organization_.id, "");
  ASSERT_TRUE(organization_limits);
  ASSERT_EQ(organization_limits->size(), 1u);
  EXPECT_EQ((*organization_limits)[0].project_id, "");
}

// Two nodes settle one Requests limit (hard 10): their usage adds up, the slices never exceed
// what is left, a crossing is claimed once, and a new period is rolled once.
TEST_F(PgGovernanceTest, SettlementsOfTwoNodesAddUpAndShareTheBudget) {
  const Project project = MakeProject("Support");
  UsageLimit limit = Limit(project.id);
  limit.unit = UsageUnit::kRequests;
  limit.hard_limit = 10;
  limit.soft_limit = 4;
  limit.subscription = SubscriptionType::kDaily;
  limit.valid_from = 86400000;
  limit.valid_until = 2 * 86400000;
  ASSERT_TRUE(store_->InsertUsageLimit(limit, nullptr));
  const TimeMs now = limit.valid_from + 1000;
  auto settle = [&](const std::string& node, double used, double keep, double want,
                    std::vector<LimitCrossingClaim> claims = {}, TimeMs at = 0) {
    UsageSettlement settlement;
    settlement.limit_id = limit.id;
    settlement.slice = SliceRequest{limit.valid_from, used, keep, want, false};
    settlement.claims = std::move(claims);
    auto settled = store_->SettleUsage(node, {settlement}, at ? at : now);
    EXPECT_TRUE(settled) << (settled ? "" : settled.error().internal);
    return settled ? (*settled)[0] : SettledUsage{};
  };

  // Alone, node a holds everything that is left.
  SettledUsage a = settle("a", 0, 0, 0);
  ASSERT_TRUE(a.found);
  EXPECT_EQ(a.slice.granted, 10);
  EXPECT_EQ(a.slice.unreserved, 0);
  // Node b asks while a holds it all: nothing for b, but b is now seen by a.
  SettledUsage b = settle("b", 0, 0, 1);
  EXPECT_EQ(b.slice.granted, 0);
  EXPECT_EQ(b.others.nodes, 1);
  EXPECT_EQ(b.others.reserved, 10);
  // a used 3 and shares now: it keeps at most max(1, 7 / 8) = 1 beyond what it asked to keep.
  a = settle("a", 3, 0, 5);
  EXPECT_EQ(a.limit.used, 3);
  EXPECT_EQ(a.slice.granted, 1);
  EXPECT_EQ(a.slice.unreserved, 6);
  // b gets a slice of what is free, adds its usage, and claims the soft crossing once.
  AuditEntry audit = Event("limit.soft_crossed", limit.id, now);
  b = settle("b", 0, 0, 1, {LimitCrossingClaim{false, limit.valid_from, audit}});
  EXPECT_EQ(b.slice.granted, 1);
  ASSERT_EQ(b.claimed.size(), 1u);
  EXPECT_TRUE(b.claimed[0]);
  a = settle("a", 1, 0, 1, {LimitCrossingClaim{false, limit.valid_from, audit}});
  EXPECT_EQ(a.limit.used, 4);
  EXPECT_FALSE(a.claimed[0]);
  EXPECT_EQ(a.limit.soft_crossed_in, limit.valid_from);
  auto listed = store_->ListAudit(
      AuditQuery{.organization_id = organization_.id, .action = "limit.soft_crossed"});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->count, 1);
  // Every slice together with the usage stays within the hard limit.
  EXPECT_LE(a.limit.used + a.slice.granted + a.others.reserved, limit.hard_limit);

  // The next day: the first node to settle rolls the period (usage of the last one is
  // dropped), the second finds it rolled; slices stay with their nodes.
  const TimeMs tomorrow = *limit.valid_until + 5000;
  b = settle("b", 1, 0, 1, {}, tomorrow);
  EXPECT_EQ(b.limit.valid_from, *limit.valid_until);
  EXPECT_EQ(b.limit.used, 0);
  UsageSettlement late;
  late.limit_id = limit.id;
  late.slice = SliceRequest{*limit.valid_until, 2, 0, 1, false};
  auto settled = store_->SettleUsage("a", {late}, tomorrow);
  ASSERT_TRUE(settled);
  EXPECT_EQ((*settled)[0].limit.valid_from, *limit.valid_until);
  EXPECT_EQ((*settled)[0].limit.used, 2);

  // A node that stops gives its slice back and leaves no row.
  UsageSettlement stop;
  stop.limit_id = limit.id;
  stop.slice.counted_in = *limit.valid_until;
  stop.slice.release = true;
  settled = store_->SettleUsage("a", {stop}, tomorrow);
  ASSERT_TRUE(settled);
  EXPECT_EQ((*settled)[0].slice.granted, 0);
  settled = store_->SettleUsage("b", {stop}, tomorrow);
  ASSERT_TRUE(settled);
  EXPECT_EQ((*settled)[0].others.nodes, 0);

  UsageSettlement missing;
  missing.limit_id = "no-such-limit";
  settled = store_->SettleUsage("a", {missing}, tomorrow);
  ASSERT_TRUE(settled);
  EXPECT_FALSE((*settled)[0].found);
  EXPECT_TRUE(store_->SettleUsage("a", {}, tomorrow));
}

// Nodes settling the same limits at once lose no usage: used_amount only ever grows by what
// each node settles.
TEST_F(PgGovernanceTest, ConcurrentSettlementsLoseNoUsage) {
  const Project project = MakeProject("Support");
  UsageLimit limit = Limit(project.id);
  limit.unit = UsageUnit::kRequests;
  limit.hard_limit = 1e9;
  limit.valid_until.reset();
  limit.subscription = SubscriptionType::kFreemium;
  ASSERT_TRUE(store_->InsertUsageLimit(limit, nullptr));
  std::vector<std::thread> nodes;
  for (int n = 0; n < 4; ++n) {
    nodes.emplace_back([&, n] {
      for (int i = 0; i < 25; ++i) {
        UsageSettlement settlement;
        settlement.limit_id = limit.id;
        settlement.slice = SliceRequest{limit.valid_from, 1, 0, 10, false};
        auto settled = store_->SettleUsage("node-" + std::to_string(n), {settlement}, 5000);
        EXPECT_TRUE(settled) << (settled ? "" : settled.error().internal);
      }
    });
  }
  for (auto& node : nodes) node.join();
  auto current = store_->ListCurrentUsageLimits();
  ASSERT_TRUE(current);
  ASSERT_EQ(current->size(), 1u);
  EXPECT_EQ((*current)[0].used, 100);
}

TEST_F(PgGovernanceTest, AuditListFiltersAndIsNewestFirstWithInsertionOrderBreakingTies) {
  for (const AuditEntry& entry :
       {Event("token.create", "t1", 10), Event("token.reveal", "t1", 20),
        Event("token.create", "t2", 20), Event("limit.update", "l1", 30)}) {
    ASSERT_TRUE(store_->AppendAudit(entry));
  }
  AuditEntry elsewhere = Event("token.create", "t9", 25);
  elsewhere.organization_id = "another-organization";
  ASSERT_TRUE(store_->AppendAudit(elsewhere));

  auto all = store_->ListAudit(AuditQuery{.organization_id = organization_.id});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->count, 4);
  ASSERT_EQ(all->entries.size(), 4u);
  EXPECT_EQ(all->entries[0].target_id, "l1");
  EXPECT_EQ(all->entries[1].target_id, "t2");  // same time as the reveal, appended after it
  EXPECT_EQ(all->entries[2].action, "token.reveal");
  EXPECT_EQ(all->entries[3].at, 10);
  EXPECT_GT(all->entries[1].id, all->entries[2].id);
  EXPECT_EQ(all->entries[0].actor_token_id, "actor-1");
  EXPECT_EQ(all->entries[0].details, R"({"name":{"from":"a","to":"b"}})");

  auto creations =
      store_->ListAudit(AuditQuery{.organization_id = organization_.id, .action = "token.create"});
  ASSERT_TRUE(creations);
  EXPECT_EQ(creations->count, 2);
  auto of_t1 =
      store_->ListAudit(AuditQuery{.organization_id = organization_.id, .target_id = "t1"});
  ASSERT_TRUE(of_t1);
  EXPECT_EQ(of_t1->count, 2);
  auto by_nobody =
      store_->ListAudit(AuditQuery{.organization_id = organization_.id, .actor_token_id = "x"});
  ASSERT_TRUE(by_nobody);
  EXPECT_EQ(by_nobody->count, 0);
  auto window = store_->ListAudit(
      AuditQuery{.organization_id = organization_.id, .start_ms = 20, .end_ms = 20});
  ASSERT_TRUE(window);
  EXPECT_EQ(window->count, 2);

  auto page =
      store_->ListAudit(AuditQuery{.organization_id = organization_.id, .offset = 1, .limit = 2});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->count, 4);
  ASSERT_EQ(page->entries.size(), 2u);
  EXPECT_EQ(page->entries[0].target_id, "t2");
  EXPECT_EQ(page->entries[1].action, "token.reveal");
}

TEST_F(PgGovernanceTest, AssistantNameTakenInTheProjectIsRefused) {
  const Project support = MakeProject("Support");
  const Project sales = MakeProject("Sales");
  Assistant first = MakeAssistant(support, "helper");
  ASSERT_TRUE(store_->CreateAssistant(first));
  const AuditEntry audit = Event("assistant.create", "dup", 1);
  auto duplicate = store_->CreateAssistant(MakeAssistant(support, "helper"), &audit);
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kAssistantNameExists);
  EXPECT_TRUE(store_->CreateAssistant(MakeAssistant(sales, "helper")));

  const Assistant other = MakeAssistant(support, "other");
  ASSERT_TRUE(store_->CreateAssistant(other));
  Assistant rename = other;
  rename.name = "helper";
  auto renamed = store_->UpdateAssistant(other, rename);
  ASSERT_FALSE(renamed);
  EXPECT_EQ(renamed.error().code(), ErrorCode::kAssistantNameExists);

  ASSERT_TRUE(store_->DeleteAssistant(support.id, first.id, ++clock_));
  EXPECT_TRUE(store_->UpdateAssistant(other, rename));
  auto audit_rows = store_->ListAudit(AuditQuery{.organization_id = organization_.id});
  ASSERT_TRUE(audit_rows);
  EXPECT_EQ(audit_rows->count, 0);
}

TEST_F(PgGovernanceTest, AssistantRevisionsAreStoredAndListedInOrder) {
  const Project project = MakeProject("Support");
  Assistant assistant = MakeAssistant(project, "helper");
  assistant.llm.temperature.reset();
  ASSERT_TRUE(store_->CreateAssistant(assistant));
  Assistant read = assistant;
  assistant.prompt = "You help more.";
  assistant.llm.temperature = 0.7;
  assistant.revision = 2;
  assistant.updated_at = ++clock_;
  ASSERT_TRUE(store_->UpdateAssistant(read, assistant));
  read = assistant;
  assistant.description = "described";
  assistant.updated_at = ++clock_;
  ASSERT_TRUE(store_->UpdateAssistant(read, assistant));

  auto revisions = store_->ListAssistantRevisions(assistant.id);
  ASSERT_TRUE(revisions);
  ASSERT_EQ(revisions->size(), 2u);
  EXPECT_EQ((*revisions)[0].revision, 1);
  EXPECT_EQ((*revisions)[0].prompt, "You help.");
  EXPECT_FALSE((*revisions)[0].llm.temperature);
  EXPECT_EQ((*revisions)[0].llm.max_tokens, 512);
  EXPECT_EQ((*revisions)[1].revision, 2);
  EXPECT_EQ((*revisions)[1].llm.temperature, 0.7);

  auto found = store_->FindAssistant(project.id, "helper");
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->revision, 2);
  EXPECT_EQ((*found)->description, "described");
  EXPECT_EQ((*found)->llm, (LlmSettings{"openai", "gpt-4o", 0.7, 512}));
}

TEST_F(PgGovernanceTest, AssistantIdWinsOverANameEqualToIt) {
  const Project project = MakeProject("Support");
  Assistant first = MakeAssistant(project, "first");
  ASSERT_TRUE(store_->CreateAssistant(first));
  Assistant named_like_id = MakeAssistant(project, first.id);
  ASSERT_TRUE(store_->CreateAssistant(named_like_id));
  auto found = store_->FindAssistant(project.id, first.id);
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->id, first.id);
  auto by_name = store_->FindAssistant(project.id, "first");
  ASSERT_TRUE(by_name && by_name->has_value());
  EXPECT_EQ((*by_name)->id, first.id);
}

TEST_F(PgGovernanceTest, DeletedAssistantsAreNotListedAndListsAreByName) {
  const Project project = MakeProject("Support");
  const Project other = MakeProject("Other");
  Assistant zed = MakeAssistant(project, "zed");
  Assistant lower_b = MakeAssistant(project, "b");
  Assistant upper_c = MakeAssistant(project, "C");
  Assistant gone = MakeAssistant(project, "a");
  for (const Assistant* assistant : {&zed, &lower_b, &upper_c, &gone}) {
    ASSERT_TRUE(store_->CreateAssistant(*assistant));
  }
  ASSERT_TRUE(store_->CreateAssistant(MakeAssistant(other, "elsewhere")));
  ASSERT_TRUE(store_->DeleteAssistant(project.id, gone.id, ++clock_));

  auto listed = store_->ListAssistants(project.id);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].name, "C");  // binary order, as on SQLite
  EXPECT_EQ((*listed)[1].name, "b");
  EXPECT_EQ((*listed)[2].name, "zed");
  auto everywhere = store_->ListAllAssistants();
  ASSERT_TRUE(everywhere);
  EXPECT_EQ(everywhere->size(), 4u);
  auto found = store_->FindAssistant(project.id, gone.id);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->has_value());
}

TEST_F(PgGovernanceTest, WebhookIsSetWithItsAuditAndEmptyForAnUnknownOrganization) {
  const AuditEntry audit = Event("organization.webhook", organization_.id, 7);
  ASSERT_TRUE(store_->SetOrganizationWebhook(organization_.id, "https://hooks.example/x", &audit));
  auto url = store_->GetOrganizationWebhook(organization_.id);
  ASSERT_TRUE(url);
  EXPECT_EQ(*url, "https://hooks.example/x");
  auto unknown = store_->GetOrganizationWebhook("nobody");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(*unknown, "");
  auto events = store_->ListAudit(
      AuditQuery{.organization_id = organization_.id, .action = "organization.webhook"});
  ASSERT_TRUE(events);
  EXPECT_EQ(events->count, 1);
}

}  // namespace
}  // namespace gatehouse
