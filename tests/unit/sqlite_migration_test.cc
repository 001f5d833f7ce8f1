#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "core/ids.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

class SqliteMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gatehouse-migration-" + std::to_string(::getpid()) + "-" + NewUuid());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "test.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes the database as the release with schema `version` left it: that schema, and `rows`.
  ::testing::AssertionResult WriteAtSchema(int version, const std::string& rows) {
    sqlite::Database db;
    db.Open(path_);
    if (auto migrated = sqlite::Migrate(db, version); !migrated || *migrated != version) {
      return ::testing::AssertionFailure() << "not migrated to " << version;
    }
    if (!db.Execute(rows)) return ::testing::AssertionFailure() << "rows not written";
    return ::testing::AssertionSuccess();
  }
  // The first column of the first row `sql` reads, on a connection of its own.
  std::int64_t Scalar(const std::string& sql) const {
    sqlite::Database db;
    EXPECT_TRUE(db.OpenReadOnly(path_));
    auto stmt = db.Prepare(sql);
    EXPECT_TRUE(stmt);
    EXPECT_TRUE((*stmt)->Step().value());
    return (*stmt)->Int(0);
  }

  std::filesystem::path dir_;
  std::string path_;
};

// A data directory written by the release before migration 3 (schema version 2) keeps its
// tokens, gains the search columns and counters, and searches as a fresh one does.
TEST_F(SqliteMigrationTest, UpgradesASchemaTwoDatabaseAndItsTokensSearchAsBefore) {
  ASSERT_TRUE(WriteAtSchema(2, R"sql(
INSERT INTO organizations(id, name, created_at, updated_at) VALUES ('o1', 'Acme', 1, 1);
INSERT INTO projects(id, organization_id, name, created_at, updated_at)
  VALUES ('p1', 'o1', 'Support', 1, 1), ('p2', 'o1', 'Sales', 1, 1);
INSERT INTO api_tokens(id, organization_id, project_id, scope, name, status, secret_hash,
                       secret_prefix, created_at, updated_at) VALUES
  ('t1', 'o1', NULL, 0, 'Owner', 0, x'01', 'gto_abcd', 1, 1),
  ('t2', 'o1', 'p1', 1, 'Default', 0, x'02', 'gtp_abcd', 2, 2),
  ('t3', 'o1', 'p1', 1, 'ci', 1, x'03', 'gtp_abcd', 3, 3),
  ('t4', 'o1', 'p2', 1, 'Default', 2, x'04', 'gtp_abcd', 4, 4),
  ('t5', 'o1', 'p2', 1, 'Default', 0, x'05', 'gtp_abcd', 5, 5);
)sql"));
  SqliteStore store(path_);
  auto all = store.SearchTokens(TokenQuery{.organization_id = "o1"});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->count, 5);
  ASSERT_EQ(all->tokens.size(), 5u);
  auto live = store.SearchTokens(TokenQuery{
      .organization_id = "o1", .statuses = {TokenStatus::kActive, TokenStatus::kBlocked}});
  EXPECT_EQ(live->count, 4);
  auto support = store.SearchTokens(TokenQuery{
      .organization_id = "o1", .project_name_contains = "SUPP", .order_key = TokenOrderKey::kName});
  ASSERT_TRUE(support);
  EXPECT_EQ(support->count, 2);
  ASSERT_EQ(support->tokens.size(), 2u);
  EXPECT_EQ(support->tokens[0].id, "t3");  // "ci" < "Default" without case
  EXPECT_EQ(support->tokens[0].project_name, "Support");
  auto organization =
      store.SearchTokens(TokenQuery{.organization_id = "o1", .scope = TokenScope::kOrganization});
  EXPECT_EQ(organization->count, 1);

  ApiToken added;
  added.id = "t6";
  added.organization_id = "o1";
  added.project_id = "p2";
  added.scope = TokenScope::kProject;
  added.name = "new";
  added.secret_prefix = "gtp_abcd";
  ASSERT_TRUE(store.InsertToken(added, TokenCredential{"\x06", {}, {}, {}}));
  auto sales = store.SearchTokens(TokenQuery{.organization_id = "o1",
                                             .project_name_contains = "sales",
                                             .statuses = {TokenStatus::kActive}});
  ASSERT_TRUE(sales);
  EXPECT_EQ(sales->count, 2);
  EXPECT_EQ(sales->tokens.front().project_name, "Sales");
}

// Migration 11 indexes a project's live tokens for the streamed listing: a database of
// schema 10 gains the index and its tokens stream in the listing's order, revoked ones left out.
TEST_F(SqliteMigrationTest, UpgradesASchemaTenDatabaseAndItsProjectTokensStreamInOrder) {
  {
    sqlite::Database db;
    db.Open(path_);
    ASSERT_EQ(sqlite::Migrate(db, 10).value(), 10);
    ASSERT_TRUE(db.Execute(R"sql(
INSERT INTO organizations(id, name, created_at, updated_at) VALUES ('o1', 'Acme', 1, 1);
INSERT INTO projects(id, organization_id, name, created_at, updated_at)
  VALUES ('p1', 'o1', 'Support', 1, 1), ('p2', 'o1', 'Sales', 1, 1);
INSERT INTO api_tokens(id, organization_id, project_id, project_name, scope, name, status,
                       secret_hash, secret_prefix, created_at, updated_at) VALUES
  ('t1', 'o1', 'p1', 'Support', 1, 'deploy', 0, x'01', 'gtp_abcd', 1, 1),
  ('t2', 'o1', 'p1', 'Support', 1, 'Default', 0, x'02', 'gtp_abcd', 2, 2),
  ('t3', 'o1', 'p1', 'Support', 1, 'ci', 2, x'03', 'gtp_abcd', 3, 3),
  ('t4', 'o1', 'p1', 'Support', 1, 'CI', 1, x'04', 'gtp_abcd', 4, 4),
  ('t5', 'o1', 'p1', 'Support', 1, 'ci', 0, x'05', 'gtp_abcd', 5, 5),
  ('t6', 'o1', 'p2', 'Sales', 1, 'ci', 0, x'06', 'gtp_abcd', 6, 6);
)sql"));
    auto index = db.Prepare(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'api_tokens_project_live_name'");
    ASSERT_TRUE(index);
    ASSERT_TRUE((*index)->Step().value());
    EXPECT_EQ((*index)->Int(0), 0);
  }
  SqliteStore store(path_);
  sqlite::Database db;
  ASSERT_TRUE(db.OpenReadOnly(path_));
  auto version = db.Prepare("SELECT MAX(version) FROM schema_migrations");
  ASSERT_TRUE((*version)->Step().value());
  EXPECT_GE((*version)->Int(0), 11);
  auto index =
      db.Prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'api_tokens_project_live_name'");
  ASSERT_TRUE((*index)->Step().value());
  EXPECT_EQ((*index)->Int(0), 1);

  auto cursor = store.OpenProjectTokens("o1", "p1", 2);
  ASSERT_TRUE(cursor);
  std::vector<std::string> ids;
  ApiToken token;
  while ((*cursor)->Next(token).value()) ids.push_back(token.id);
  // "ci" (Active) before "CI" (Blocked): equal without case, then by status; t3 is revoked.
  EXPECT_EQ(ids, (std::vector<std::string>{"t5", "t4", "t2", "t1"}));
}

// Migration 12 rebuilds `requests` without the unique index on the random id: a database of
// schema 11 keeps every record and field, reads them back newest first, and storing a record it
// already holds (the journal replayed after a crash) still adds nothing.
TEST_F(SqliteMigrationTest, UpgradesASchemaElevenDatabaseAndKeepsItsRequestRecords) {
  ASSERT_TRUE(WriteAtSchema(11, R"sql(
INSERT INTO organizations(id, name, created_at, updated_at) VALUES ('o1', 'Acme', 1, 1);
INSERT INTO requests(id, organization_id, project_id, api_token_id, api_token_name, assistant,
                     intent, module, session_id, model, status, http_status, start_ms, end_ms,
                     prompt_tokens, completion_tokens, total_tokens, cost, prompt, input_text,
                     output) VALUES
  ('r1', 'o1', 'p1', 't1', 'ci', 'bot', NULL, 'chat', 's1', 'fake/m', 'succeeded', 200, 1000,
   1200, 3, 4, 7, 0.5, 'hello', 'in', 'out'),
  ('r2', 'o1', 'p1', 't1', 'ci', NULL, 'x', 'chat', NULL, 'fake/m', 'failed', 502, 2000, 2100,
   0, 0, 0, 0.0, NULL, NULL, NULL),
  ('r3', 'o1', 'p2', 't2', 'deploy', NULL, NULL, 'embeddings', NULL, 'fake/e', 'succeeded',
   200, 2000, 2050, 5, 0, 5, 0.25, NULL, NULL, NULL);
)sql"));
  SqliteStore store(path_);
  {
    sqlite::Database db;
    ASSERT_TRUE(db.OpenReadOnly(path_));
    auto unique = db.Prepare(
        "SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'requests' AND name LIKE "
        "'sqlite_autoindex%'");
    ASSERT_TRUE((*unique)->Step().value());
    EXPECT_EQ((*unique)->Int(0), 0);
  }
  const auto read_all = [&] {
    std::vector<RequestRecord> records;
    auto cursor = store.OpenRequestCursor(RequestQuery{.organization_id = "o1"});
    EXPECT_TRUE(cursor);
    RequestRecord record;
    while ((*cursor)->Next(record).value()) records.push_back(record);
    return records;
  };
  auto records = read_all();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].id, "r3");  // newest first, ties by id descending
  EXPECT_EQ(records[1].id, "r2");
  EXPECT_EQ(records[2].id, "r1");
  EXPECT_EQ(records[2].api_token_name, "ci");
  EXPECT_EQ(records[2].assistant, "bot");
  EXPECT_EQ(records[2].session_id, "s1");
  EXPECT_EQ(records[2].end_ms, 1200);
  EXPECT_EQ(records[2].total_tokens, 7);
  EXPECT_DOUBLE_EQ(records[2].cost, 0.5);
  EXPECT_EQ(records[2].prompt, "hello");
  EXPECT_EQ(records[2].output, "out");
  EXPECT_EQ(records[1].intent, "x");
  EXPECT_EQ(records[1].http_status, 502);
  EXPECT_FALSE(records[1].prompt.has_value());
  EXPECT_EQ(records[0].module, "embeddings");

  RequestRecord fresh = records[2];
  fresh.id = "r4";
  fresh.start_ms = 3000;
  fresh.end_ms = 3100;
  ASSERT_TRUE(store.AppendRequests({records[2], records[0], fresh}));
  records = read_all();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].id, "r4");
}

// Migration 13 drops the names' trigram index: a database of schema 12 loses the table and
// its triggers, and its tokens are still found by name (the SQL plans alone, as before the
// in-memory index loads, and with it) and can be renamed and revoked.
TEST_F(SqliteMigrationTest, UpgradesASchemaTwelveDatabaseAndFindsItsTokensByNameWithoutTrigrams) {
  ASSERT_TRUE(WriteAtSchema(12, R"sql(
INSERT INTO organizations(id, name, created_at, updated_at) VALUES ('o1', 'Acme', 1, 1);
INSERT INTO api_tokens(id, organization_id, scope, name, status, secret_hash, secret_prefix,
                       created_at, updated_at) VALUES
  ('t1', 'o1', 0, 'Deploy-main', 0, x'01', 'gto_abcd', 1, 1),
  ('t2', 'o1', 0, 'ci', 0, x'02', 'gto_abcd', 2, 2),
  ('t3', 'o1', 0, 'deploy-old', 2, x'03', 'gto_abcd', 3, 3);
)sql"));
  const auto trigram_objects = [&] {
    sqlite::Database db;
    EXPECT_TRUE(db.OpenReadOnly(path_));
    auto found =
        db.Prepare("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'api_tokens_name_%'");
    EXPECT_TRUE((*found)->Step().value());
    return (*found)->Int(0);
  };
  EXPECT_GT(trigram_objects(), 0);
  SqliteStore store(path_);
  EXPECT_EQ(trigram_objects(), 0);

  const auto names = [&](const std::string& text) {
    std::vector<std::string> ids;
    auto page = store.SearchTokens(TokenQuery{.organization_id = "o1", .name_contains = text});
    EXPECT_TRUE(page);
    for (const auto& token : page->tokens) ids.push_back(token.id);
    return ids;
  };
  for (auto use : {SqliteStore::NameIndexUse::kNever, SqliteStore::NameIndexUse::kAlways}) {
    store.UseNameIndex(use);
    EXPECT_EQ(names("EPLOY"), (std::vector<std::string>{"t1", "t3"}));
    EXPECT_EQ(names("ci"), (std::vector<std::string>{"t2"}));
  }

  TokenChange rename;
  rename.name = "deploy-ci";
  ASSERT_TRUE(store.ChangeToken("o1", "t2", rename, 10, {}));
  TokenChange revoke;
  revoke.status = TokenStatus::kRevoked;
  ASSERT_TRUE(store.ChangeToken("o1", "t1", revoke, 11, {}));
  ApiToken added;
  added.id = "t4";
  added.organization_id = "o1";
  added.scope = TokenScope::kOrganization;
  added.name = "Deploy-new";
  added.secret_prefix = "gto_abcd";
  ASSERT_TRUE(store.InsertToken(added, TokenCredential{"\x04", {}, {}, {}}));
  for (auto use : {SqliteStore::NameIndexUse::kNever, SqliteStore::NameIndexUse::kAlways}) {
    store.UseNameIndex(use);
    // In name order without case: deploy-ci, Deploy-main, Deploy-new, deploy-old.
    EXPECT_EQ(names("deploy-"), (std::vector<std::string>{"t2", "t1", "t4", "t3"}));
    EXPECT_EQ(names("ci"), (std::vector<std::string>{"t2"}));
  }
}

// Migration 14 rebuilds api_tokens without the unique index on secret_hash: a database of
// schema 13 keeps every token with its rowid and fields, its indexes and counting triggers
// are back, and a taken name is still refused.
TEST_F(SqliteMigrationTest, UpgradesASchemaThirteenDatabaseAndKeepsItsTokensWithoutAHashIndex) {
  const std::string kIndexes =
      "SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'api_tokens' AND type = 'index'";
  const std::string kTriggers =
      "SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'api_tokens' AND type = 'trigger'";
  std::int64_t indexes_before = 0;
  ASSERT_TRUE(WriteAtSchema(13, R"sql(
INSERT INTO organizations(id, name, created_at, updated_at) VALUES ('o1', 'Acme', 1, 1);
INSERT INTO projects(id, organization_id, name, created_at, updated_at)
  VALUES ('p1', 'o1', 'Support', 1, 1);
INSERT INTO api_tokens(rowid, id, organization_id, project_id, project_name, scope, name,
                       description, status, secret_hash, sealed_secret, secret_prefix,
                       previous_hash, previous_valid_until, created_at, updated_at, last_used_at,
                       expires_at, rate_limit_per_minute, permissions) VALUES
  (7, 't1', 'o1', NULL, '', 0, 'Owner', 'the first', 0, x'01', x'aa', 'gto_abcd', x'09', 50,
   1, 2, 3, 400, 60, '{"allowedCidrs":["10.0.0.0/8"]}'),
  (9, 't2', 'o1', 'p1', 'Support', 1, 'ci', '', 1, x'02', NULL, 'gtp_abcd', NULL, NULL, 5, 6,
   NULL, NULL, NULL, NULL);
)sql"));
  indexes_before = Scalar(kIndexes);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'api_tokens' AND sql "
                   "LIKE '%secret_hash BLOB NOT NULL UNIQUE%'"),
            1);
  SqliteStore store(path_);
  EXPECT_GE(Scalar("SELECT MAX(version) FROM schema_migrations"), 14);
  EXPECT_EQ(Scalar(kIndexes), indexes_before - 1);  // the secret hash's autoindex
  EXPECT_EQ(Scalar(kTriggers), 2);  // the counting triggers of updates and deletes (migration 16)
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'api_tokens' AND sql "
                   "LIKE '%secret_hash BLOB NOT NULL UNIQUE%'"),
            0);
  EXPECT_EQ(Scalar("SELECT rowid FROM api_tokens WHERE id = 't2'"), 9);

  auto owner = store.FindToken("o1", "t1");
  ASSERT_TRUE(owner && *owner);
  EXPECT_EQ((*owner)->description, "the first");
  EXPECT_EQ((*owner)->expires_at, 400);
  EXPECT_EQ((*owner)->rate_limit_per_minute, 60);
  ASSERT_TRUE((*owner)->permissions.allowed_cidrs.has_value());
  auto credential = store.FindCredential("t1");
  ASSERT_TRUE(credential && *credential);
  EXPECT_EQ((*credential)->secret_hash, "\x01");
  EXPECT_EQ((*credential)->previous_valid_until, 50);

  ApiToken added;
  added.id = "t3";
  added.organization_id = "o1";
  added.scope = TokenScope::kOrganization;
  added.name = "deploy";
  added.secret_prefix = "gto_abcd";
  ASSERT_TRUE(store.InsertToken(added, TokenCredential{"\x03", {}, {}, {}}));
  added.id = "t4";
  auto taken = store.InsertToken(added, TokenCredential{"\x04", {}, {}, {}});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code(), ErrorCode::kTokenNameExists);
  TokenChange revoke;
  revoke.status = TokenStatus::kRevoked;
  ASSERT_TRUE(store.ChangeToken("o1", "t2", revoke, 10, {}));
  auto live = store.SearchTokens(TokenQuery{
      .organization_id = "o1", .statuses = {TokenStatus::kActive, TokenStatus::kBlocked}});
  ASSERT_TRUE(live);
  EXPECT_EQ(live->count, 2);  // from api_token_counts, kept by the triggers
  EXPECT_EQ(store.CountLiveTokens().value(), 2);
}

// Migration 15 drops audit_log_org_target, which no plan used: a database of schema 14 keeps
// its audit trail, and filtering it by target still finds exactly that target's events.
TEST_F(SqliteMigrationTest, UpgradesASchemaFourteenDatabaseAndFiltersItsAuditByTarget) {
  ASSERT_TRUE(WriteAtSchema(14, R"sql(
INSERT INTO organizations(id, name, created_at, updated_at) VALUES ('o1', 'Acme', 1, 1);
INSERT INTO audit_log(at, organization_id, action, target_id) VALUES
  (1, 'o1', 'token.create', 't1'), (2, 'o1', 'token.create', 't2'),
  (3, 'o1', 'token.update', 't1'), (4, 'o1', 'token.create', 't3');
)sql"));
  SqliteStore store(path_);
  {
    sqlite::Database db;
    ASSERT_TRUE(db.OpenReadOnly(path_));
    auto index =
        db.Prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_log_org_target'");
    ASSERT_TRUE((*index)->Step().value());
    EXPECT_EQ((*index)->Int(0), 0);
  }
  auto t1 = store.ListAudit(AuditQuery{.organization_id = "o1", .target_id = "t1"});
  ASSERT_TRUE(t1);
  EXPECT_EQ(t1->count, 2);
  ASSERT_EQ(t1->entries.size(), 2u);
  EXPECT_EQ(t1->entries[0].action, "token.update");  // newest first
  EXPECT_EQ(store.ListAudit(AuditQuery{.organization_id = "o1"})->count, 4);
}

// Migration 16 drops the trigger that counted new tokens: a database of schema 15 keeps its
// counts, and tokens stored one by one, in a batch and through the writer thread's queue are
// counted by the store (a refused name is not), as are later status changes and revocations.
TEST_F(SqliteMigrationTest, UpgradesASchemaFifteenDatabaseAndCountsNewTokensWithoutATrigger) {
  ASSERT_TRUE(WriteAtSchema(15, R"sql(
INSERT INTO organizations(id, name, created_at, updated_at) VALUES ('o1', 'Acme', 1, 1);
INSERT INTO projects(id, organization_id, name, created_at, updated_at)
  VALUES ('p1', 'o1', 'Support', 1, 1);
INSERT INTO api_tokens(id, organization_id, project_id, project_name, scope, name, status,
                       secret_hash, secret_prefix, created_at, updated_at) VALUES
  ('t1', 'o1', NULL, '', 0, 'Owner', 0, x'01', 'gto_abcd', 1, 1),
  ('t2', 'o1', 'p1', 'Support', 1, 'Default', 0, x'02', 'gtp_abcd', 2, 2),
  ('t3', 'o1', 'p1', 'Support', 1, 'ci', 1, x'03', 'gtp_abcd', 3, 3);
)sql"));
  const auto counted = [&](const std::string& project_id, TokenStatus status) {
    return Scalar(
        "SELECT COALESCE(SUM(tokens), 0) FROM api_token_counts WHERE "
        "organization_id = 'o1' AND project_id = '" +
        project_id + "' AND status = " + std::to_string(static_cast<int>(status)));
  };
  SqliteStore store(path_);
  EXPECT_GE(Scalar("SELECT MAX(version) FROM schema_migrations"), 16);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'api_token_counts_insert'"), 0);
  EXPECT_EQ(counted("", TokenStatus::kActive), 1);
  EXPECT_EQ(counted("p1", TokenStatus::kActive), 1);
  EXPECT_EQ(counted("p1", TokenStatus::kBlocked), 1);

  const auto token = [](std::string id, std::string project_id, std::string name,
                        TokenStatus status) {
    ApiToken made;
    made.id = std::move(id);
    made.organization_id = "o1";
    made.project_id = std::move(project_id);
    made.scope = made.project_id.empty() ? TokenScope::kOrganization : TokenScope::kProject;
    made.name = std::move(name);
    made.status = status;
    made.secret_prefix = "gtx_abcd";
    return made;
  };
  ASSERT_TRUE(store.InsertToken(token("t4", "", "deploy", TokenStatus::kActive),
                                TokenCredential{"\x04", {}, {}, {}}));
  auto taken = store.InsertToken(token("t5", "", "deploy", TokenStatus::kActive),
                                 TokenCredential{"\x05", {}, {}, {}});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code(), ErrorCode::kTokenNameExists);
  EXPECT_EQ(counted("", TokenStatus::kActive), 2);

  auto batch = store.InsertTokens({
      {token("t6", "p1", "a", TokenStatus::kActive), TokenCredential{"\x06", {}, {}, {}}},
      {token("t7", "p1", "b", TokenStatus::kBlocked), TokenCredential{"\x07", {}, {}, {}}},
      {token("t8", "p1", "Default", TokenStatus::kActive), TokenCredential{"\x08", {}, {}, {}}},
      {token("t9", "", "c", TokenStatus::kActive), TokenCredential{"\x09", {}, {}, {}}},
      {token("t10", "p1", "d", TokenStatus::kActive), TokenCredential{"\x0a", {}, {}, {}}},
  });
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->size(), 5u);
  EXPECT_FALSE((*batch)[2]);  // "Default" is taken in p1
  EXPECT_EQ(counted("", TokenStatus::kActive), 3);
  EXPECT_EQ(counted("p1", TokenStatus::kActive), 3);
  EXPECT_EQ(counted("p1", TokenStatus::kBlocked), 2);

  std::vector<Status> queued(2);
  std::atomic<int> waiting = 2;
  store.QueueTokenInsert(TokenInsert{token("t11", "", "e", TokenStatus::kActive),
                                     TokenCredential{"\x0b", {}, {}, {}}, std::nullopt},
                         [&](TokenInsert&, Status outcome) {
                           queued[0] = std::move(outcome);
                           --waiting;
                         });
  store.QueueTokenInsert(TokenInsert{token("t12", "", "e", TokenStatus::kActive),
                                     TokenCredential{"\x0c", {}, {}, {}}, std::nullopt},
                         [&](TokenInsert&, Status outcome) {
                           queued[1] = std::move(outcome);
                           --waiting;
                         });
  while (waiting > 0) std::this_thread::yield();
  EXPECT_TRUE(queued[0]);
  ASSERT_FALSE(queued[1]);  // the same name, queued behind the first
  EXPECT_EQ(queued[1].error().code(), ErrorCode::kTokenNameExists);
  EXPECT_EQ(counted("", TokenStatus::kActive), 4);

  TokenChange revoke;
  revoke.status = TokenStatus::kRevoked;
  ASSERT_TRUE(store.ChangeToken("o1", "t11", revoke, 10, {}));
  EXPECT_EQ(counted("", TokenStatus::kActive), 3);
  EXPECT_EQ(counted("", TokenStatus::kRevoked), 1);
  EXPECT_EQ(store.CountLiveTokens().value(), 8);
  EXPECT_EQ(Scalar("SELECT SUM(tokens) FROM api_token_counts"),
            Scalar("SELECT COUNT(*) FROM api_tokens"));
}

TEST_F(SqliteMigrationTest, MigratingAgainChangesNothing) {
  sqlite::Database db;
  db.Open(path_);
  const int latest = sqlite::Migrate(db).value();
  EXPECT_GE(latest, 3);
  EXPECT_EQ(sqlite::Migrate(db).value(), latest);
}

}  // namespace
}  // namespace gatehouse
