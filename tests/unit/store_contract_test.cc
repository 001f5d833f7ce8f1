// The Store contract, run on every backend: Sqlite/StoreContractTest.* (label unit) and
// Postgres/StoreContractTest.* (label pg_unit, on the test cluster; skipped without one).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.h"
#include "pg_test_database.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

enum class Backend { kSqlite, kPostgres };

class StoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      database_ = std::make_unique<PgTestDatabase>();
      if (!database_->available()) GTEST_SKIP() << database_->skip_reason();
      store_ = std::make_unique<PgStore>(PgStore::Options{.url = database_->url()});
    } else {
      store_ = std::make_unique<SqliteStore>(dir_.File("test.db").string());
    }
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

  ApiToken ProjectToken(const Project& project, const std::string& name) {
    ApiToken token = OrganizationToken(name);
    token.scope = TokenScope::kProject;
    token.project_id = project.id;
    return token;
  }

  TokenCredential Credential() { return TokenCredential{NewUuid(), {}, {}, {}}; }

  Project MakeProject(const std::string& name) {
    Project project{NewUuid(), organization_.id, "", name, "", "", true, ++clock_, clock_};
    EXPECT_TRUE(store_->CreateProject(project, ProjectToken(project, "Default"), Credential()));
    return project;
  }

  TempDir dir_;                               // declared before store_, so it outlives it
  std::unique_ptr<PgTestDatabase> database_;  // likewise
  std::unique_ptr<Store> store_;
  Organization organization_;
  TimeMs clock_ = 100;
};

TEST_P(StoreContractTest, TokenNameIsUniquePerOwnerAmongNonRevokedTokens) {
  const Project support = MakeProject("Support");
  const Project sales = MakeProject("Sales");
  ApiToken first = ProjectToken(support, "ci");
  ASSERT_TRUE(store_->InsertToken(first, Credential()));
  auto duplicate = store_->InsertToken(ProjectToken(support, "ci"), Credential());
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kTokenNameExists);
  EXPECT_TRUE(store_->InsertToken(ProjectToken(sales, "ci"), Credential()));
  EXPECT_TRUE(store_->InsertToken(OrganizationToken("ci"), Credential()));

  ASSERT_TRUE(store_->ChangeToken(organization_.id, first.id,
                                  TokenChange{.status = TokenStatus::kRevoked}, 1000, {}));
  EXPECT_TRUE(store_->InsertToken(ProjectToken(support, "ci"), Credential()));
}

TEST_P(StoreContractTest, ProjectNameIsUniquePerOrganization) {
  MakeProject("Support");
  Project again{NewUuid(), organization_.id, "", "Support", "", "", true, 1, 1};
  auto created = store_->CreateProject(again, ProjectToken(again, "Default"), Credential());
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kProjectNameExists);
}

TEST_P(StoreContractTest, ChangeIsRefusedWhenNoOtherUsableOrganizationTokenRemains) {
  auto page = store_->SearchTokens(TokenQuery{.organization_id = organization_.id});
  ASSERT_TRUE(page);
  const std::string owner = page->tokens.front().id;
  const TokenChangeCondition needs_another{.other_organization_token_usable_at = 1000};
  auto refused = store_->ChangeToken(
      organization_.id, owner, TokenChange{.status = TokenStatus::kBlocked}, 1000, needs_another);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->outcome, TokenChangeResult::Outcome::kNoOtherUsableOrganizationToken);
  EXPECT_EQ((*store_->FindToken(organization_.id, owner))->status, TokenStatus::kActive);

  ApiToken expired = OrganizationToken("Expired");
  expired.expires_at = 1000;
  ASSERT_TRUE(store_->InsertToken(expired, Credential()));
  refused = store_->ChangeToken(organization_.id, owner,
                                TokenChange{.status = TokenStatus::kBlocked}, 1000, needs_another);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->outcome, TokenChangeResult::Outcome::kNoOtherUsableOrganizationToken);

  ASSERT_TRUE(store_->InsertToken(OrganizationToken("Second"), Credential()));
  auto applied = store_->ChangeToken(
      organization_.id, owner, TokenChange{.status = TokenStatus::kBlocked}, 1000, needs_another);
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->outcome, TokenChangeResult::Outcome::kApplied);
  EXPECT_EQ(applied->token.status, TokenStatus::kBlocked);
}

TEST_P(StoreContractTest, ChangeIsNotAppliedWhenTheRowNoLongerHasTheExpectedState) {
  const Project support = MakeProject("Support");
  ApiToken token = ProjectToken(support, "ci");
  ASSERT_TRUE(store_->InsertToken(token, Credential()));
  auto stale =
      store_->ChangeToken(organization_.id, token.id, TokenChange{.description = std::string("x")},
                          1000, {.expected_status = TokenStatus::kBlocked});
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->outcome, TokenChangeResult::Outcome::kStateChanged);
  stale =
      store_->ChangeToken(organization_.id, token.id, TokenChange{.description = std::string("x")},
                          1000, {.expected_expires_at = std::optional<TimeMs>(5)});
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->outcome, TokenChangeResult::Outcome::kStateChanged);
  EXPECT_EQ((*store_->FindToken(organization_.id, token.id))->description, "");
}

// A rotation read the token, then a revocation or a block committed: the new credential must
// not go in (the rotation would answer, and the cache publish, a status no longer true).
TEST_P(StoreContractTest, ACredentialIsReplacedOnlyWhileTheTokenKeepsTheStatusRead) {
  const Project support = MakeProject("Support");
  ApiToken token = ProjectToken(support, "ci");
  ASSERT_TRUE(store_->InsertToken(token, Credential()));
  ASSERT_TRUE(store_->ChangeToken(organization_.id, token.id,
                                  TokenChange{.status = TokenStatus::kRevoked}, 1000, {}));
  const TokenCredential fresh{"hash-after-revoke", {}, {}, {}};
  auto refused =
      store_->UpdateCredential(token.id, fresh, token.secret_prefix, TokenStatus::kActive, 1100);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  auto stored = store_->FindCredential(token.id);
  ASSERT_TRUE(stored);
  ASSERT_TRUE(*stored);
  EXPECT_NE((*stored)->secret_hash, "hash-after-revoke");
}

TEST_P(StoreContractTest, ChangesApplyToTheCurrentRowSoTheyNeverUndoEachOther) {
  const Project support = MakeProject("Support");
  ApiToken token = ProjectToken(support, "leaked");
  ASSERT_TRUE(store_->InsertToken(token, Credential()));
  ASSERT_TRUE(store_->ChangeToken(organization_.id, token.id,
                                  TokenChange{.status = TokenStatus::kBlocked}, 1000, {}));
  auto described = store_->ChangeToken(organization_.id, token.id,
                                       TokenChange{.description = std::string("x")}, 1001, {});
  ASSERT_TRUE(described);
  EXPECT_EQ(described->token.status, TokenStatus::kBlocked);
  EXPECT_EQ(described->token.description, "x");
  EXPECT_EQ((*store_->FindToken(organization_.id, token.id))->status, TokenStatus::kBlocked);
}

TEST_P(StoreContractTest, RevokedTokenCannotChange) {
  const Project support = MakeProject("Support");
  ApiToken token = ProjectToken(support, "gone");
  ASSERT_TRUE(store_->InsertToken(token, Credential()));
  ASSERT_TRUE(store_->ChangeToken(organization_.id, token.id,
                                  TokenChange{.status = TokenStatus::kRevoked}, 1000, {}));
  auto changed = store_->ChangeToken(organization_.id, token.id,
                                     TokenChange{.status = TokenStatus::kActive}, 1001, {});
  ASSERT_FALSE(changed);
  EXPECT_EQ(changed.error().code(), ErrorCode::kApiTokenNotFound);
}

TEST_P(StoreContractTest, DeletingAProjectRevokesItsTokensAndHidesIt) {
  const Project support = MakeProject("Support");
  ASSERT_TRUE(store_->DeleteProject(organization_.id, support.id, 500));
  EXPECT_FALSE(*store_->FindProject(organization_.id, support.id));
  TokenQuery query{.organization_id = organization_.id, .project_id = support.id};
  auto page = store_->SearchTokens(query);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->tokens.size(), 1u);
  EXPECT_EQ(page->tokens[0].status, TokenStatus::kRevoked);
}

// A token created in a project that a delete ended meanwhile (the API looked the project up
// before the delete committed) would be live in a deleted project, and nothing would ever
// revoke it: the insert itself checks that the project is still live.
TEST_P(StoreContractTest, NoTokenIsCreatedInADeletedProject) {
  const Project support = MakeProject("Support");
  ASSERT_TRUE(store_->DeleteProject(organization_.id, support.id, 500));
  auto refused = store_->InsertToken(ProjectToken(support, "late"), Credential());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kProjectNotFound);
  auto batch = store_->InsertTokens({{ProjectToken(support, "late-batch"), Credential()},
                                     {OrganizationToken("fine"), Credential()}});
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->size(), 2u);
  ASSERT_FALSE((*batch)[0]);
  EXPECT_EQ((*batch)[0].error().code(), ErrorCode::kProjectNotFound);
  EXPECT_TRUE((*batch)[1]) << "the other tokens of the batch are stored";
  TokenQuery query{.organization_id = organization_.id, .project_id = support.id};
  auto page = store_->SearchTokens(query);
  ASSERT_TRUE(page);
  for (const auto& token : page->tokens) EXPECT_EQ(token.status, TokenStatus::kRevoked);
}

// Nodes starting at once on a new database agree on the first value stored (the master key's
// check value): every caller gets the same one back, whatever it offered.
TEST_P(StoreContractTest, ASettingStoredOnceKeepsTheFirstValueForEveryCaller) {
  EXPECT_EQ(store_->PutSettingOnce("once", "first").value_or(""), "first");
  EXPECT_EQ(store_->PutSettingOnce("once", "second").value_or(""), "first");
  constexpr int kCallers = 8;
  std::vector<std::string> got(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      got[i] = store_->PutSettingOnce("raced", "value-" + std::to_string(i)).value_or("failed");
    });
  }
  for (auto& caller : callers) caller.join();
  for (const std::string& value : got) EXPECT_EQ(value, got[0]);
  EXPECT_TRUE(got[0].starts_with("value-"));
  EXPECT_EQ(store_->GetSetting("raced").value_or(std::nullopt), got[0]);
}

TEST_P(StoreContractTest, AProjectDeletedMeanwhileIsNotUpdated) {
  const Project support = MakeProject("Support");
  ASSERT_TRUE(store_->DeleteProject(organization_.id, support.id, 500));
  Project late = support;
  late.description = "late";
  auto refused = store_->UpdateProject(support, late);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kProjectNotFound);
}

// A project change is stored only onto the project as it was read: a hide read before a rename
// must not store the old name back (nor the rename undo the hide).
TEST_P(StoreContractTest, AProjectChangeReadBeforeAnotherIsRefusedAndRollsNothingBack) {
  const Project read = MakeProject("Support");
  Project renamed = read;
  renamed.name = "Helpdesk";
  ASSERT_TRUE(store_->UpdateProject(read, renamed));
  Project hidden = read;  // read before the rename
  hidden.active = false;
  auto refused = store_->UpdateProject(read, hidden);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  auto stored = store_->FindProject(organization_.id, read.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->name, "Helpdesk");
  EXPECT_TRUE((*stored)->active);
  Project again = **stored;  // read again, the hide goes through
  again.active = false;
  ASSERT_TRUE(store_->UpdateProject(**stored, again));
  stored = store_->FindProject(organization_.id, read.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->name, "Helpdesk");
  EXPECT_FALSE((*stored)->active);
}

// An assistant is stored only onto the revision it was read at: a late write never rolls a newer
// revision back (which then made every later prompt change collide with the revision row it had
// written), nor brings a deleted assistant back.
TEST_P(StoreContractTest, AnAssistantChangeReadBeforeAnotherIsRefusedAndRollsNothingBack) {
  const Project support = MakeProject("Support");
  Assistant read{NewUuid(), organization_.id, support.id, "bot", "", "p1", {}, 1, 10, 10};
  read.llm.provider_name = "openai";
  read.llm.model_name = "gpt";
  ASSERT_TRUE(store_->CreateAssistant(read));
  Assistant prompt = read;  // a prompt change, read at revision 1
  prompt.prompt = "p2";
  prompt.revision = 2;
  ASSERT_TRUE(store_->UpdateAssistant(read, prompt));
  Assistant description = read;  // a description change, also read at revision 1
  description.description = "late";
  auto refused = store_->UpdateAssistant(read, description);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  auto stored = store_->FindAssistant(support.id, read.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->prompt, "p2");
  EXPECT_EQ((*stored)->revision, 2);
  Assistant next = **stored;  // read again, the next prompt change goes through
  next.prompt = "p3";
  next.revision = 3;
  ASSERT_TRUE(store_->UpdateAssistant(**stored, next));
  ASSERT_TRUE(store_->DeleteAssistant(support.id, read.id, 50));
  Assistant late = next;
  late.description = "after the delete";
  auto gone = store_->UpdateAssistant(next, late);
  ASSERT_FALSE(gone);
  EXPECT_FALSE(*store_->FindAssistant(support.id, read.id));
}

// A rename or a new description does not bump the revision, so the guard also holds the name and
// the description as read: a prompt change read before a rename must not store the old name back.
TEST_P(StoreContractTest, AnAssistantChangeReadBeforeARenameIsRefusedAndKeepsTheNewName) {
  const Project support = MakeProject("Support");
  Assistant read{NewUuid(), organization_.id, support.id, "bot", "", "p1", {}, 1, 10, 10};
  read.llm.provider_name = "openai";
  read.llm.model_name = "gpt";
  ASSERT_TRUE(store_->CreateAssistant(read));
  Assistant renamed = read;
  renamed.name = "helper";
  renamed.description = "helps";
  renamed.updated_at = 11;
  ASSERT_TRUE(store_->UpdateAssistant(read, renamed));
  Assistant prompt = read;  // read before the rename, at the same revision
  prompt.prompt = "p2";
  prompt.revision = 2;
  auto refused = store_->UpdateAssistant(read, prompt);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kConflict);
  Assistant described = read;  // a description change read before the rename
  described.description = "late";
  auto also_refused = store_->UpdateAssistant(read, described);
  ASSERT_FALSE(also_refused);
  EXPECT_EQ(also_refused.error().code(), ErrorCode::kConflict);
  auto stored = store_->FindAssistant(support.id, read.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->name, "helper");
  EXPECT_EQ((*stored)->description, "helps");
  EXPECT_EQ((*stored)->prompt, "p1");
  auto revisions = store_->ListAssistantRevisions(read.id);
  ASSERT_TRUE(revisions);
  EXPECT_EQ(revisions->size(), 1u);
}

TEST_P(StoreContractTest, ADeletedProjectIsStillKnownToItsOrganizationOnly) {
  const Project support = MakeProject("Support");
  ASSERT_TRUE(store_->DeleteProject(organization_.id, support.id, 500));
  EXPECT_TRUE(store_->KnowsProject(organization_.id, support.id).value_or(false));
  EXPECT_FALSE(store_->KnowsProject(NewUuid(), support.id).value_or(true));
  EXPECT_FALSE(store_->KnowsProject(organization_.id, NewUuid()).value_or(true));
}

TEST_P(StoreContractTest, OtherOrganizationsIdsAreNotFound) {
  const Project support = MakeProject("Support");
  EXPECT_FALSE(*store_->FindProject(NewUuid(), support.id));
  auto page = store_->SearchTokens(TokenQuery{.organization_id = organization_.id});
  EXPECT_FALSE(*store_->FindToken(NewUuid(), page->tokens.front().id));
}

TEST_P(StoreContractTest, SearchFiltersByContainsCaseInsensitivelyAndPages) {
  const Project support = MakeProject("Customer Support");
  for (const char* name : {"alpha-build", "Beta-BUILD", "gamma", "b%_\\"}) {
    ASSERT_TRUE(store_->InsertToken(ProjectToken(support, name), Credential()));
  }
  auto names = [&](TokenQuery query) {
    query.organization_id = organization_.id;
    std::vector<std::string> out;
    auto page = store_->SearchTokens(query);
    for (const auto& token : page->tokens) out.push_back(token.name);
    return out;
  };
  EXPECT_EQ(names({.name_contains = "BUILD"}),
            (std::vector<std::string>{"alpha-build", "Beta-BUILD"}));
  EXPECT_EQ(names({.name_contains = "%_"}), (std::vector<std::string>{"b%_\\"}));
  EXPECT_EQ(names({.name_contains = "a-b"}),
            (std::vector<std::string>{"alpha-build", "Beta-BUILD"}));
  EXPECT_EQ(names({.name_contains = "gam", .project_name_contains = "support"}),
            (std::vector<std::string>{"gamma"}));
  EXPECT_EQ(names({.scope = TokenScope::kOrganization}), (std::vector<std::string>{"Owner"}));
  EXPECT_EQ(names({.scope = TokenScope::kProject,
                   .order_key = TokenOrderKey::kName,
                   .descending = true,
                   .offset = 1,
                   .limit = 2}),
            (std::vector<std::string>{"Default", "Beta-BUILD"}));
  auto page = store_->SearchTokens(TokenQuery{.organization_id = organization_.id, .limit = 2});
  EXPECT_EQ(page->count, 6);
  EXPECT_EQ(page->tokens.size(), 2u);
}

TEST_P(StoreContractTest, ChangedTokensAreVisitedSinceATimeIncludingRevokedOnes) {
  const Project support = MakeProject("Support");
  ASSERT_TRUE(store_->DeleteProject(organization_.id, support.id, 10000));
  // Every token changed since then, revoked ones included; a store may visit more (PostgreSQL
  // also reads by the database's clock, which these made-up times are far behind).
  std::vector<std::string> seen;
  ASSERT_TRUE(
      store_->ForEachTokenChangedSince(9000, [&](const ApiToken& token, const TokenCredential&) {
        if (token.status == TokenStatus::kRevoked) seen.push_back(token.project_id);
      }));
  EXPECT_EQ(seen, std::vector<std::string>{support.id});
  int live = 0;
  ASSERT_TRUE(store_->ForEachTokenChangedSince(
      0, [&](const ApiToken&, const TokenCredential&) { ++live; }));
  EXPECT_EQ(live, 1);  // only the organization token; revoked ones are skipped on a full load
}

TEST_P(StoreContractTest, LiveTokensAreCountedAndVisitedWithWhatTheCacheKeeps) {
  const Project support = MakeProject("Support");
  ApiToken kept = ProjectToken(support, "ci");
  kept.description = "deploys";
  kept.expires_at = 5000;
  kept.rate_limit_per_minute = 30;
  const TokenCredential credential{"hash-of-ci", std::string("sealed"), std::string("old"), 900};
  ASSERT_TRUE(store_->InsertToken(kept, Credential()));
  ASSERT_TRUE(store_->UpdateCredential(kept.id, credential, kept.secret_prefix, kept.status, 800));
  ApiToken revoked = ProjectToken(support, "gone");
  ASSERT_TRUE(store_->InsertToken(revoked, Credential()));
  ASSERT_TRUE(store_->ChangeToken(organization_.id, revoked.id,
                                  TokenChange{.status = TokenStatus::kRevoked}, 1000, {}));
  EXPECT_EQ(store_->CountLiveTokens().value_or(-1), 3);  // Owner, Default, ci

  std::vector<std::string> names;
  ASSERT_TRUE(store_->ForEachLiveToken([&](const ApiToken& token, const TokenCredential& read) {
    names.push_back(token.name);
    if (token.id != kept.id) return;
    EXPECT_EQ(token.organization_id, organization_.id);
    EXPECT_EQ(token.organization_name, "Acme");
    EXPECT_EQ(token.project_id, support.id);
    EXPECT_EQ(token.project_name, "Support");
    EXPECT_EQ(token.scope, TokenScope::kProject);
    EXPECT_EQ(token.expires_at, 5000);
    EXPECT_EQ(token.rate_limit_per_minute, 30);
    EXPECT_EQ(token.description, "");  // not what the cache keeps
    EXPECT_EQ(read.secret_hash, "hash-of-ci");
    EXPECT_EQ(read.previous_hash, "old");
    EXPECT_EQ(read.previous_valid_until, 900);
    EXPECT_FALSE(read.sealed);
  }));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"Default", "Owner", "ci"}));
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContractTest, ::testing::Values(Backend::kSqlite));
INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest, ::testing::Values(Backend::kPostgres));

class SqliteStoreTest : public StoreContractTest {};

TEST_P(SqliteStoreTest, BackupIsAReadableCopy) {
  MakeProject("Support");
  const auto copy = dir_.File("copy.db").string();
  ASSERT_TRUE(static_cast<SqliteStore&>(*store_).Backup(copy));
  SqliteStore restored(copy);
  auto projects = restored.ListProjects(organization_.id, true);
  ASSERT_TRUE(projects);
  ASSERT_EQ(projects->size(), 1u);
  EXPECT_EQ(projects->front().name, "Support");
}

INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteStoreTest, ::testing::Values(Backend::kSqlite));

}  // namespace
}  // namespace gatehouse
