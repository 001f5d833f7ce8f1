#include "directory/token_directory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/secret.h"
#include "directory_fixture.h"
#include "pg_test_database.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_store.h"

namespace gatehouse {
namespace {

constexpr TimeMs kMinuteMs = 60 * 1000;

using TokenDirectoryTest = DirectoryTest;

TokenChange StatusChange(TokenStatus status) {
  TokenChange change;
  change.status = status;
  return change;
}

TokenChange ExpiryChange(TimeMs expires_at) {
  TokenChange change;
  change.expires_at = std::optional<TimeMs>(expires_at);
  return change;
}

TEST_F(TokenDirectoryTest, ACreatedTokenIsStoredAndAuthenticatesAtOnce) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  EXPECT_EQ(issued.secret.substr(0, 4), "gtp_");
  EXPECT_EQ(issued.token.secret_prefix, issued.secret.substr(0, kSecretPrefixLength));

  auto found = tokens().Find(acme_id(), issued.token.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "ci");
  EXPECT_EQ(found->project_id, project.id);
  EXPECT_EQ(found->status, TokenStatus::kActive);

  auto cached = Authenticate(issued.secret, Now());
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->id(), issued.token.id);
  EXPECT_EQ(cached->scope, TokenScope::kProject);
}

TEST_F(TokenDirectoryTest, AnOrganizationTokenSecretStartsWithGto) {
  const IssuedToken issued = MakeOrganizationToken(acme_id(), "deploy");
  EXPECT_EQ(issued.secret.substr(0, 4), "gto_");
  EXPECT_TRUE(Usable(issued.secret, Now()));
}

TEST_F(TokenDirectoryTest, ANameTakenByALiveTokenOfTheSameOwnerIsRefusedWith9001) {
  const Project support = MakeProject(acme_id(), "Support").project;
  const Project sales = MakeProject(acme_id(), "Sales").project;
  MakeProjectToken(support, "ci");

  TokenSpec again;
  again.organization_id = acme_id();
  again.project_id = support.id;
  again.name = "ci";
  EXPECT_EQ(CodeOf(tokens().Create(again)), ErrorCode::kTokenNameExists);

  // Other owners may use the name: another project, and the organization itself.
  MakeProjectToken(sales, "ci");
  MakeOrganizationToken(acme_id(), "ci");
  TokenSpec organization_again;
  organization_again.scope = TokenScope::kOrganization;
  organization_again.organization_id = acme_id();
  organization_again.name = "ci";
  EXPECT_EQ(CodeOf(tokens().Create(organization_again)), ErrorCode::kTokenNameExists);
}

TEST_F(TokenDirectoryTest, RenamingOntoTheNameOfAnotherLiveTokenIsRefusedWith9001) {
  const Project project = MakeProject(acme_id(), "Support").project;
  MakeProjectToken(project, "ci");
  const IssuedToken other = MakeProjectToken(project, "cd");
  TokenChange rename;
  rename.name = "ci";
  EXPECT_EQ(CodeOf(tokens().Update(acme_id(), other.token.id, rename)),
            ErrorCode::kTokenNameExists);
  EXPECT_EQ(tokens().Find(acme_id(), other.token.id)->name, "cd");
}

TEST_F(TokenDirectoryTest, TheNameOfARevokedTokenCanBeReused) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken first = MakeProjectToken(project, "ci");
  ASSERT_TRUE(tokens().Revoke(acme_id(), first.token.id));
  const IssuedToken second = MakeProjectToken(project, "ci");
  EXPECT_NE(second.token.id, first.token.id);
}

TEST_F(TokenDirectoryTest, BlockingTheLastActiveOrganizationTokenIsRefusedWith9003) {
  EXPECT_EQ(
      CodeOf(tokens().Update(acme_id(), acme_.token.token.id, StatusChange(TokenStatus::kBlocked))),
      ErrorCode::kLastOrganizationToken);
  EXPECT_EQ(tokens().Find(acme_id(), acme_.token.token.id)->status, TokenStatus::kActive);
  EXPECT_TRUE(Usable(acme_.token.secret, Now()));
}

TEST_F(TokenDirectoryTest, RevokingTheLastActiveOrganizationTokenIsRefusedWith9003) {
  EXPECT_EQ(CodeOf(tokens().Revoke(acme_id(), acme_.token.token.id)),
            ErrorCode::kLastOrganizationToken);
  EXPECT_TRUE(Usable(acme_.token.secret, Now()));
}

TEST_F(TokenDirectoryTest, ExpiringTheLastActiveOrganizationTokenIsRefusedWith9003) {
  EXPECT_EQ(
      CodeOf(tokens().Update(acme_id(), acme_.token.token.id, ExpiryChange(Now() - kMinuteMs))),
      ErrorCode::kLastOrganizationToken);
  // An expiry in the future locks the organization out just later (issue 12 item 3).
  EXPECT_EQ(
      CodeOf(tokens().Update(acme_id(), acme_.token.token.id, ExpiryChange(Now() + kMinuteMs))),
      ErrorCode::kLastOrganizationToken);
  EXPECT_FALSE(tokens().Find(acme_id(), acme_.token.token.id)->expires_at.has_value());
}

TEST_F(TokenDirectoryTest, AnExpiredOrganizationTokenDoesNotCountAsAnotherActiveOne) {
  const IssuedToken spare = MakeOrganizationToken(acme_id(), "spare");
  ASSERT_TRUE(tokens().Update(acme_id(), spare.token.id, ExpiryChange(Now() - kMinuteMs)));
  EXPECT_EQ(
      CodeOf(tokens().Update(acme_id(), acme_.token.token.id, StatusChange(TokenStatus::kBlocked))),
      ErrorCode::kLastOrganizationToken);
}

TEST_F(TokenDirectoryTest, ABlockedOrganizationTokenDoesNotCountAsAnotherActiveOne) {
  const IssuedToken spare = MakeOrganizationToken(acme_id(), "spare");
  ASSERT_TRUE(tokens().Update(acme_id(), spare.token.id, StatusChange(TokenStatus::kBlocked)));
  EXPECT_EQ(CodeOf(tokens().Revoke(acme_id(), acme_.token.token.id)),
            ErrorCode::kLastOrganizationToken);
}

TEST_F(TokenDirectoryTest, AnOrganizationTokenMayBeBlockedWhileAnotherActiveOneRemains) {
  const IssuedToken spare = MakeOrganizationToken(acme_id(), "spare");
  auto blocked =
      tokens().Update(acme_id(), acme_.token.token.id, StatusChange(TokenStatus::kBlocked));
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->status, TokenStatus::kBlocked);
  // Now `spare` is the last one.
  EXPECT_EQ(CodeOf(tokens().Revoke(acme_id(), spare.token.id)), ErrorCode::kLastOrganizationToken);
}

TEST_F(TokenDirectoryTest, TheLastProjectTokenMayBeBlockedAndRevoked) {
  const CreatedProject created = MakeProject(acme_id(), "Support");
  const std::string& id = created.default_token.token.id;
  EXPECT_TRUE(tokens().Update(acme_id(), id, StatusChange(TokenStatus::kBlocked)));
  EXPECT_TRUE(tokens().Revoke(acme_id(), id));
}

TEST_F(TokenDirectoryTest, TheGuardCountsOnlyTheTokensOfTheSameOrganization) {
  auto other = organizations().Create("Globex", "");
  ASSERT_TRUE(other);
  EXPECT_EQ(CodeOf(tokens().Revoke(acme_id(), acme_.token.token.id)),
            ErrorCode::kLastOrganizationToken);
}

TEST_F(TokenDirectoryTest, ABlockedTokenStaysKnownToTheCacheButIsNotUsable) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  ASSERT_TRUE(tokens().Update(acme_id(), issued.token.id, StatusChange(TokenStatus::kBlocked)));
  auto cached = Authenticate(issued.secret, Now());
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->status, TokenStatus::kBlocked);
  EXPECT_FALSE(Usable(issued.secret, Now()));

  ASSERT_TRUE(tokens().Update(acme_id(), issued.token.id, StatusChange(TokenStatus::kActive)));
  EXPECT_TRUE(Usable(issued.secret, Now()));
}

TEST_F(TokenDirectoryTest, ARevokedTokenLeavesTheCacheAndCannotChangeAnyMore) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  auto revoked = tokens().Revoke(acme_id(), issued.token.id);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, TokenStatus::kRevoked);
  EXPECT_FALSE(Authenticate(issued.secret, Now()));
  EXPECT_FALSE(cache().FindById(issued.token.id));

  EXPECT_EQ(CodeOf(tokens().Update(acme_id(), issued.token.id, StatusChange(TokenStatus::kActive))),
            ErrorCode::kApiTokenNotFound);
  EXPECT_EQ(CodeOf(tokens().Revoke(acme_id(), issued.token.id)), ErrorCode::kApiTokenNotFound);
  EXPECT_EQ(CodeOf(tokens().Rotate(acme_id(), issued.token.id, 0, AuditActor::System())),
            ErrorCode::kApiTokenNotFound);
  EXPECT_EQ(CodeOf(tokens().Reveal(acme_id(), issued.token.id, AuditActor::System())),
            ErrorCode::kApiTokenNotFound);
  EXPECT_FALSE(Authenticate(issued.secret, Now()));
}

TEST_F(TokenDirectoryTest, AChangePublishesTheNewStateToTheCache) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  TokenChange change;
  change.name = "ci-renamed";
  change.expires_at = std::optional<TimeMs>(Now() + kMinuteMs);
  ASSERT_TRUE(tokens().Update(acme_id(), issued.token.id, change));
  auto cached = cache().FindById(issued.token.id);
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->name(), "ci-renamed");
  EXPECT_EQ(cached->expires_at, change.expires_at.value());
  EXPECT_TRUE(Usable(issued.secret, Now()));
  EXPECT_FALSE(Usable(issued.secret, *cached->expires_at));
}

TEST_F(TokenDirectoryTest, RotationKeepsTheOldSecretWorkingForTheGracePeriodOnly) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  const TimeMs before = Now();
  auto rotated = tokens().Rotate(acme_id(), issued.token.id, 60, AuditActor::System());
  const TimeMs after = Now();
  ASSERT_TRUE(rotated);
  EXPECT_NE(rotated->secret, issued.secret);
  EXPECT_EQ(rotated->token.id, issued.token.id);
  EXPECT_EQ(rotated->token.name, "ci");
  EXPECT_EQ(rotated->token.secret_prefix, rotated->secret.substr(0, kSecretPrefixLength));

  EXPECT_TRUE(Usable(rotated->secret, after));
  EXPECT_TRUE(Usable(issued.secret, after));
  EXPECT_TRUE(Usable(issued.secret, before + 60 * 1000 - 1));
  EXPECT_FALSE(Authenticate(issued.secret, after + 60 * 1000));
  EXPECT_TRUE(Usable(rotated->secret, after + 60 * 1000));
}

TEST_F(TokenDirectoryTest, RotationWithoutGraceRejectsTheOldSecretAtOnce) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  auto rotated = tokens().Rotate(acme_id(), issued.token.id, 0, AuditActor::System());
  ASSERT_TRUE(rotated);
  EXPECT_FALSE(Authenticate(issued.secret, Now()));
  EXPECT_TRUE(Usable(rotated->secret, Now()));
}

TEST_F(TokenDirectoryTest, ASecondRotationEndsTheGraceOfTheFirstSecret) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  auto first = tokens().Rotate(acme_id(), issued.token.id, 60, AuditActor::System());
  ASSERT_TRUE(first);
  auto second = tokens().Rotate(acme_id(), issued.token.id, 60, AuditActor::System());
  ASSERT_TRUE(second);
  EXPECT_FALSE(Authenticate(issued.secret, Now()));
  EXPECT_TRUE(Usable(first->secret, Now()));
  EXPECT_TRUE(Usable(second->secret, Now()));
}

TEST_F(TokenDirectoryTest, RevealReturnsTheCurrentSecretAndIsAudited) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  const AuditActor actor{acme_.token.token.id, acme_.token.token.name, "10.0.0.9"};
  auto revealed = tokens().Reveal(acme_id(), issued.token.id, actor);
  ASSERT_TRUE(revealed);
  EXPECT_EQ(*revealed, issued.secret);

  auto rotated = tokens().Rotate(acme_id(), issued.token.id, 60, actor);
  ASSERT_TRUE(rotated);
  EXPECT_EQ(tokens().Reveal(acme_id(), issued.token.id, actor).value(), rotated->secret);

  AuditQuery query;
  query.organization_id = acme_id();
  query.target_id = issued.token.id;
  query.limit = 3;
  auto audit = store().ListAudit(query);
  ASSERT_TRUE(audit);
  ASSERT_EQ(audit->entries.size(), 3u);
  EXPECT_EQ(audit->entries[0].action, "token.reveal");
  EXPECT_EQ(audit->entries[1].action, "token.rotate");
  EXPECT_EQ(audit->entries[2].action, "token.reveal");
  for (const auto& entry : audit->entries) {
    EXPECT_EQ(entry.target_id, issued.token.id);
    EXPECT_EQ(entry.actor_token_id, acme_.token.token.id);
    EXPECT_EQ(entry.actor_name, acme_.token.token.name);
    EXPECT_EQ(entry.remote_address, "10.0.0.9");
  }
}

TEST(TokenDirectoryRevealNever, RevealIsRefusedWith9004AndNothingIsAudited) {
  const TempDir dir;
  const ManualClock clock(1'700'000'000'000);
  Directories directories(dir.File("gatehouse.db"), clock, DirectoryOptions{.keep_sealed = false});
  auto acme = directories.organizations.Create("Acme", "");
  ASSERT_TRUE(acme);
  const std::string& organization_id = acme->organization.id;
  EXPECT_EQ(CodeOf(directories.tokens.Reveal(organization_id, acme->token.token.id,
                                             AuditActor::System())),
            ErrorCode::kApiTokenNotFound);
  AuditQuery query;
  query.organization_id = organization_id;
  query.action = "token.reveal";
  EXPECT_EQ(directories.store.ListAudit(query)->count, 0);
}

TEST_F(TokenDirectoryTest, IdsOfAnotherOrganizationAreAnsweredAsNotFound) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  auto globex = organizations().Create("Globex", "");
  ASSERT_TRUE(globex);
  const std::string& other = globex->organization.id;
  const std::string& id = issued.token.id;

  EXPECT_EQ(CodeOf(tokens().Find(other, id)), ErrorCode::kApiTokenNotFound);
  EXPECT_EQ(CodeOf(tokens().Update(other, id, StatusChange(TokenStatus::kBlocked))),
            ErrorCode::kApiTokenNotFound);
  EXPECT_EQ(CodeOf(tokens().Revoke(other, id)), ErrorCode::kApiTokenNotFound);
  EXPECT_EQ(CodeOf(tokens().Reveal(other, id, AuditActor::System())), ErrorCode::kApiTokenNotFound);
  EXPECT_EQ(CodeOf(tokens().Rotate(other, id, 60, AuditActor::System())),
            ErrorCode::kApiTokenNotFound);
  auto listed = tokens().ListLive(other, TokenScope::kProject, project.id);
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());

  // The token is untouched and its secret still works.
  EXPECT_EQ(tokens().Find(acme_id(), id)->status, TokenStatus::kActive);
  EXPECT_TRUE(Usable(issued.secret, Now()));
  // Nothing about this token in the other organization's trail (only its own creation).
  AuditQuery query;
  query.organization_id = other;
  query.target_id = id;
  EXPECT_EQ(store().ListAudit(query)->count, 0);
}

TEST_F(TokenDirectoryTest, ListLiveShowsActiveAndBlockedButNotRevokedTokens) {
  const CreatedProject created = MakeProject(acme_id(), "Support");
  const IssuedToken blocked = MakeProjectToken(created.project, "blocked");
  const IssuedToken revoked = MakeProjectToken(created.project, "revoked");
  ASSERT_TRUE(tokens().Update(acme_id(), blocked.token.id, StatusChange(TokenStatus::kBlocked)));
  ASSERT_TRUE(tokens().Revoke(acme_id(), revoked.token.id));
  auto listed = tokens().ListLive(acme_id(), TokenScope::kProject, created.project.id);
  ASSERT_TRUE(listed);
  std::vector<std::string> names;
  for (const auto& token : *listed) names.push_back(token.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"Default", "blocked"}));
}

TEST_F(TokenDirectoryTest, AChangeMadeByAnotherProcessReachesTheCacheOnSync) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  ASSERT_TRUE(tokens().LoadCache());

  Directories cli(DatabaseFile(), clock_);
  ASSERT_TRUE(cli.tokens.Update(acme_id(), issued.token.id, StatusChange(TokenStatus::kBlocked)));
  const IssuedToken added = [&] {
    TokenSpec spec;
    spec.organization_id = acme_id();
    spec.project_id = project.id;
    spec.project_name = project.name;
    spec.name = "added-by-cli";
    return cli.tokens.Create(spec).value();
  }();
  EXPECT_TRUE(Usable(issued.secret, Now()));  // not yet seen
  EXPECT_FALSE(Authenticate(added.secret, Now()));

  ASSERT_TRUE(tokens().SyncCache());
  EXPECT_FALSE(Usable(issued.secret, Now()));
  EXPECT_TRUE(Usable(added.secret, Now()));

  ASSERT_TRUE(cli.tokens.Revoke(acme_id(), issued.token.id));
  ASSERT_TRUE(tokens().SyncCache());
  EXPECT_FALSE(cache().FindById(issued.token.id));
}

TEST_F(TokenDirectoryTest, LoadCacheKnowsEveryNonRevokedTokenOfTheStore) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken kept = MakeProjectToken(project, "kept");
  const IssuedToken revoked = MakeProjectToken(project, "revoked");
  ASSERT_TRUE(tokens().Revoke(acme_id(), revoked.token.id));

  Directories restarted(DatabaseFile(), clock_);
  EXPECT_EQ(restarted.cache.size(), 0u);
  ASSERT_TRUE(restarted.tokens.LoadCache());
  const TimeMs now = Now();
  EXPECT_TRUE(restarted.cache.FindByHash(restarted.keyring.Hash(kept.secret), now));
  EXPECT_TRUE(restarted.cache.FindByHash(restarted.keyring.Hash(acme_.token.secret), now));
  EXPECT_FALSE(restarted.cache.FindByHash(restarted.keyring.Hash(revoked.secret), now));
  EXPECT_FALSE(restarted.cache.FindById(revoked.token.id));
}

TEST_F(TokenDirectoryTest, ALastUseHeldInMemoryIsShownAndThenStoredByFlush) {
  const Project project = MakeProject(acme_id(), "Support").project;
  const IssuedToken issued = MakeProjectToken(project, "ci");
  EXPECT_FALSE(tokens().Find(acme_id(), issued.token.id)->last_used_at.has_value());

  const TimeMs used_at = Now();
  cache().MarkUsed(*Authenticate(issued.secret, used_at), used_at);
  EXPECT_EQ(tokens().Find(acme_id(), issued.token.id)->last_used_at, used_at);
  EXPECT_FALSE(store().FindToken(acme_id(), issued.token.id).value()->last_used_at.has_value());

  ASSERT_TRUE(tokens().FlushUsage());
  EXPECT_EQ(store().FindToken(acme_id(), issued.token.id).value()->last_used_at, used_at);
}

TEST_F(TokenDirectoryTest, PermissionsAreStoredCompiledIntoTheCacheAndLiftedByNull) {
  const Project project = MakeProject(acme_id(), "Support").project;
  TokenSpec spec;
  spec.scope = TokenScope::kProject;
  spec.organization_id = acme_id();
  spec.project_id = project.id;
  spec.name = "fenced";
  spec.permissions.allowed_models = std::vector<std::string>{"openai/gpt-4o*"};
  spec.permissions.allowed_cidrs = std::vector<std::string>{"10.0.0.0/8"};
  auto issued = tokens().Create(spec);
  ASSERT_TRUE(issued);

  // Another process over the same file (as the CLI, or a restart) loads the same lists.
  Directories other(DatabaseFile(), clock_);
  ASSERT_TRUE(other.tokens.LoadCache());
  auto cached = other.cache.FindByHash(other.keyring.Hash(issued->secret), Now());
  ASSERT_TRUE(cached);
  ASSERT_NE(cached->permissions, nullptr);
  EXPECT_TRUE(cached->permissions->AllowsModel("openai/gpt-4o-mini"));
  EXPECT_FALSE(cached->permissions->AllowsModel("openai/o1"));
  EXPECT_TRUE(cached->permissions->AllowsAssistant("anything"));
  EXPECT_FALSE(cached->permissions->AllowsAddress("192.0.2.1"));
  EXPECT_EQ(other.tokens.Find(acme_id(), issued->token.id)->permissions, spec.permissions);

  TokenChange lift;
  lift.allowed_models = TokenPermissions::List();
  lift.allowed_cidrs = TokenPermissions::List();
  auto updated = tokens().Update(acme_id(), issued->token.id, lift);
  ASSERT_TRUE(updated);
  EXPECT_TRUE(updated->permissions.unrestricted());
  EXPECT_EQ(Authenticate(issued->secret, Now())->permissions, nullptr);
}

}  // namespace
// A first sync before any load still delivers revocations (the store reads "since 0" as a
// first load, which leaves revoked tokens out).
TEST(TokenDirectorySync, ASyncBeforeTheFirstLoadStillRemovesRevokedTokens) {
  const TempDir dir;
  const ManualClock clock(1000);
  Directories directories(dir.File("gatehouse.db"), clock);
  auto acme = directories.organizations.Create("Acme", "");
  ASSERT_TRUE(acme);
  auto project = directories.projects.Create(acme->organization.id, ProjectSpec{"Support", "", ""});
  ASSERT_TRUE(project);
  const std::string& secret = project->default_token.secret;
  ASSERT_TRUE(directories.cache.FindByHash(directories.keyring.Hash(secret), clock.Now()));
  Directories cli(dir.File("gatehouse.db"), clock);
  ASSERT_TRUE(cli.projects.Delete(acme->organization.id, project->project.id));
  ASSERT_TRUE(directories.tokens.SyncCache());
  EXPECT_FALSE(directories.cache.FindByHash(directories.keyring.Hash(secret), clock.Now()));
}

namespace {

// Two nodes on one fresh PostgreSQL database, each with its own clock: `a` writes, `b` reads.
struct PgTwoNodes {
  PgTwoNodes(const std::string& url, const Clock& clock_a, const Clock& clock_b)
      : store_a(PgStore::Options{.url = url}),
        store_b(PgStore::Options{.url = url}),
        a(store_a, keyring, cache_a, clock_a, true),
        b(store_b, keyring, cache_b, clock_b, true),
        organizations(store_a, a, clock_a),
        projects(store_a, a, clock_a) {}

  // Makes an organization with a project on `a` and returns the project's default token as
  // `b` has loaded it into its cache; empty on failure.
  std::string TokenLoadedByB() {
    auto acme = organizations.Create("Acme", "");
    if (!acme) return {};
    organization_id = acme->organization.id;
    auto project = projects.Create(organization_id, ProjectSpec{"Support", "", ""});
    if (!project || !b.LoadCache()) return {};
    const std::string token_id = project->default_token.token.id;
    return cache_b.FindById(token_id) ? token_id : std::string();
  }

  const Keyring keyring{Keyring::Key{}};
  PgStore store_a;
  PgStore store_b;
  TokenCache cache_a;
  TokenCache cache_b;
  TokenDirectory a;
  TokenDirectory b;
  OrganizationDirectory organizations;
  ProjectDirectory projects;
  std::string organization_id;
};

}  // namespace

// Two nodes on one PostgreSQL database, the second with a clock a minute ahead: its syncs mark
// where they got to by the database's clock, so a revocation made on the first after its last
// sync still reaches it.
TEST(PgTokenDirectory, ANodeWhoseClockIsAheadSeesARevocationMadeElsewhere) {
  PgTestDatabase db;
  if (!db.available()) GTEST_SKIP() << db.skip_reason();
  const SystemClock on_time;
  ManualClock ahead(on_time.Now() + 60'000);
  PgTwoNodes nodes(db.url(), on_time, ahead);
  const std::string token_id = nodes.TokenLoadedByB();
  ASSERT_FALSE(token_id.empty());

  ahead.Advance(1000);
  ASSERT_TRUE(nodes.b.SyncCache());
  ASSERT_TRUE(nodes.a.Revoke(nodes.organization_id, token_id));
  ahead.Advance(1000);
  ASSERT_TRUE(nodes.b.SyncCache());
  EXPECT_FALSE(nodes.cache_b.FindById(token_id));
}

// A revocation committed long after it was stamped (a project deletion revoking many tokens):
// another node's sync while it was still writing marks no later than its start, so the next
// sync reads it, where a mark of "now" would start after its stamp, beyond the 5-s overlap.
TEST(PgTokenDirectory, ARevocationCommittedLongAfterItsStampStillReachesAnotherNode) {
  PgTestDatabase db;
  if (!db.available()) GTEST_SKIP() << db.skip_reason();
  const SystemClock clock;
  PgTwoNodes nodes(db.url(), clock, clock);
  const std::string token_id = nodes.TokenLoadedByB();
  ASSERT_FALSE(token_id.empty());

  auto writer = pg::Connection::Open(db.url());
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->Run("BEGIN"));
  ASSERT_TRUE((*writer)->Run(
      "UPDATE api_tokens SET status = 2, changed_at_db = gatehouse_now_ms() WHERE id = $1",
      pg::Params().Text(token_id)));
  std::this_thread::sleep_for(std::chrono::milliseconds(6000));  // past the sync's overlap
  ASSERT_TRUE(nodes.b.SyncCache());  // while the revocation is still being written
  ASSERT_TRUE(nodes.cache_b.FindById(token_id));
  ASSERT_TRUE((*writer)->Run("COMMIT"));
  ASSERT_TRUE(nodes.b.SyncCache());
  EXPECT_FALSE(nodes.cache_b.FindById(token_id));
}

// A last-use flush never waits for a token's row that another transaction holds: it skips the
// row and keeps the use for the next flush. Waiting, it deadlocked with writes of several
// tokens (an organization's deletion revoking them), and PostgreSQL failed one of the two: the
// deletion now and then (503 in http_pg.test_admin_orgs).
TEST(PgTokenDirectory, ALastUseFlushSkipsATokenAnotherTransactionHoldsAndStoresItLater) {
  PgTestDatabase db;
  if (!db.available()) GTEST_SKIP() << db.skip_reason();
  const SystemClock clock;
  PgTwoNodes nodes(db.url(), clock, clock);
  const std::string token_id = nodes.TokenLoadedByB();
  ASSERT_FALSE(token_id.empty());
  const auto cached = nodes.cache_a.FindById(token_id);
  ASSERT_TRUE(cached);
  const TimeMs used_at = clock.Now();
  nodes.cache_a.MarkUsed(*cached, used_at);
  const auto stored_use = [&]() -> std::optional<TimeMs> {
    auto token = nodes.store_a.FindToken(nodes.organization_id, token_id);
    return token && *token ? (**token).last_used_at : std::nullopt;
  };

  auto writer = pg::Connection::Open(db.url());
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->Run("BEGIN"));
  ASSERT_TRUE((*writer)->Run("UPDATE api_tokens SET description = 'held' WHERE id = $1",
                             pg::Params().Text(token_id)));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(nodes.a.FlushUsage());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000))
      << "the flush waited for the row";
  ASSERT_TRUE((*writer)->Run("COMMIT"));
  EXPECT_FALSE(stored_use());
  ASSERT_TRUE(nodes.a.FlushUsage());  // the use kept from the first flush
  EXPECT_EQ(stored_use(), used_at);
}

}  // namespace gatehouse
