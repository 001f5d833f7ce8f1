// The console search (API.md §6) against a brute-force filter and sort over a few thousand
// random tokens, through both of SqliteStore's plans (order first, filter first), and on
// PostgreSQL (PgTokenSearchTest, on the test cluster; skipped without one).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>

#include "core/ids.h"
#include "pg_test_database.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

// ASCII-only case folding, as SQLite's NOCASE and LIKE do.
std::string Fold(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

bool Contains(const std::string& text, const std::string& part) {
  return Fold(text).find(Fold(part)) != std::string::npos;
}

struct Row {
  ApiToken token;
  std::int64_t rowid;
};

constexpr const char* kNameParts[] = {"ci",    "Build", "deploy", "100%", "a_b", "o'neil",
                                      "\"q\"", "café",  "CAFÉ",   "日本", "x",   "X",
                                      "%",     "_",     "zz",     "Ω"};

enum class Backend { kSqlite, kPostgres };

template <Backend kBackend>
class TokenSearchFixture : public ::testing::Test {
 public:  // the checks shared by both backends (CheckEveryOrder, ...) use them
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("gatehouse-search-" + std::to_string(::getpid()) + "-" + NewUuid());
    std::filesystem::create_directories(dir_);
    if (kBackend == Backend::kPostgres) {
      database_ = new PgTestDatabase();
      if (!database_->available()) return;  // each test skips (SetUp)
      pg_ = new PgStore(PgStore::Options{.url = database_->url()});
      store_ = pg_;
    } else {
      sqlite_ = new SqliteStore((dir_ / "test.db").string());
      store_ = sqlite_;
    }
    organization_ = Organization{NewUuid(), "Acme", "", 1};
    std::mt19937 random(7);
    auto pick = [&](auto& list) { return std::string(list[random() % std::size(list)]); };
    ApiToken owner = Token(random, pick, nullptr);
    owner.scope = TokenScope::kOrganization;
    owner.status = TokenStatus::kActive;
    ASSERT_TRUE(store_->CreateOrganization(organization_, owner, Credential()));
    rows_.push_back({owner, 1});
    // Another organization's tokens must never show.
    Organization other{NewUuid(), "Other", "", 1};
    ASSERT_TRUE(store_->CreateOrganization(other, Other(other), Credential()));
    std::int64_t rowid = 2;
    const char* project_names[] = {"Support", "support-2", "Ventas 100%", "a_b team",
                                   "Café",    "o'neil",    "日本語"};
    for (const char* name : project_names) {
      Project project{NewUuid(), organization_.id, "", name, "", "", true, 1, 1};
      ApiToken token = Token(random, pick, &project);
      ASSERT_TRUE(store_->CreateProject(project, token, Credential()));
      rows_.push_back({token, ++rowid});
      projects_.push_back(project);
    }
    std::vector<std::pair<ApiToken, TokenCredential>> batch;
    for (int i = 0; i < kTokens; ++i) {
      const Project* project =
          random() % 20 == 0 ? nullptr : &projects_[random() % projects_.size()];
      batch.emplace_back(Token(random, pick, project), Credential());
    }
    auto outcomes = store_->InsertTokens(batch);
    ASSERT_TRUE(outcomes);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if ((*outcomes)[i]) rows_.push_back({batch[i].first, ++rowid});
    }
    std::vector<std::pair<std::string, TimeMs>> uses;
    for (auto& row : rows_) {
      if (random() % 2) {
        row.token.last_used_at = 1000 + random() % 5;
        uses.emplace_back(row.token.id, *row.token.last_used_at);
      }
    }
    ASSERT_TRUE(store_->RecordLastUsed(uses));
  }

  static void TearDownTestSuite() {
    delete store_;
    store_ = sqlite_ = nullptr;
    pg_ = nullptr;
    delete database_;
    database_ = nullptr;
    rows_.clear();
    projects_.clear();
    std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    if (!store_) GTEST_SKIP() << database_->skip_reason();
  }

  static TokenCredential Credential() { return TokenCredential{NewUuid(), {}, {}, {}}; }

  static ApiToken Other(const Organization& other) {
    ApiToken token;
    token.id = NewUuid();
    token.organization_id = other.id;
    token.scope = TokenScope::kOrganization;
    token.name = "ci";
    token.secret_prefix = "gto_abcd";
    return token;
  }

  // Few distinct values, so that every sort key has many ties.
  static ApiToken Token(std::mt19937& random, auto& pick, const Project* project) {
    ApiToken token;
    token.id = NewUuid();
    token.organization_id = organization_.id;
    token.scope = project ? TokenScope::kProject : TokenScope::kOrganization;
    if (project) {
      token.project_id = project->id;
      token.project_name = project->name;
    }
    token.name = pick(kNameParts) + pick(kNameParts) + std::to_string(random() % 500);
    token.description = pick(kNameParts);
    const int roll = static_cast<int>(random() % 10);
    token.status = roll < 6 ? TokenStatus::kActive
                            : (roll < 8 ? TokenStatus::kBlocked : TokenStatus::kRevoked);
    token.created_at = token.updated_at = 100 + random() % 50;
    token.secret_prefix = "gtp_abcd";
    return token;
  }

  // The whole expected answer, in order.
  static std::vector<std::string> Expected(const TokenQuery& query) {
    std::vector<const Row*> matches;
    for (const auto& row : rows_) {
      const ApiToken& t = row.token;
      if (query.scope && t.scope != *query.scope) continue;
      if (!query.project_id.empty() && t.project_id != query.project_id) continue;
      if (!query.name_contains.empty() && !Contains(t.name, query.name_contains)) continue;
      if (!query.project_name_contains.empty() &&
          (t.project_id.empty() || !Contains(t.project_name, query.project_name_contains))) {
        continue;
      }
      if (!query.statuses.empty() && std::find(query.statuses.begin(), query.statuses.end(),
                                               t.status) == query.statuses.end()) {
        continue;
      }
      matches.push_back(&row);
    }
    auto key = [&](const Row* row) {
      const ApiToken& t = row->token;
      const auto status = static_cast<int>(t.status);
      const auto scope = static_cast<int>(t.scope);
      const std::int64_t used = t.last_used_at.value_or(-1);  // NULL sorts first
      switch (query.order_key) {
        case TokenOrderKey::kName:
          return std::make_tuple(Fold(t.name), std::int64_t{0}, status, scope, t.project_name,
                                 row->rowid);
        case TokenOrderKey::kDescription:
          return std::make_tuple(Fold(t.description), std::int64_t{0}, status, scope,
                                 t.project_name, row->rowid);
        case TokenOrderKey::kStatus:
          return std::make_tuple(Fold(t.name), std::int64_t{status}, 0, scope, t.project_name,
                                 row->rowid);
        case TokenOrderKey::kProjectName:
          return std::make_tuple(Fold(t.project_name), std::int64_t{0}, status, scope,
                                 std::string(), row->rowid);
        case TokenOrderKey::kTimestamp:
          return std::make_tuple(std::string(), t.created_at, status, scope, t.project_name,
                                 row->rowid);
        case TokenOrderKey::kLastUsedAt:
          return std::make_tuple(std::string(), used, status, scope, t.project_name, row->rowid);
      }
      return std::make_tuple(std::string(), std::int64_t{0}, 0, 0, std::string(), row->rowid);
    };
    auto less = [&](const Row* a, const Row* b) {
      if (query.order_key == TokenOrderKey::kStatus) {
        // status first, then name
        auto ka = key(a), kb = key(b);
        auto ra = std::tie(std::get<1>(ka), std::get<0>(ka), std::get<3>(ka), std::get<4>(ka),
                           std::get<5>(ka));
        auto rb = std::tie(std::get<1>(kb), std::get<0>(kb), std::get<3>(kb), std::get<4>(kb),
                           std::get<5>(kb));
        return query.descending ? rb < ra : ra < rb;
      }
      return query.descending ? key(b) < key(a) : key(a) < key(b);
    };
    std::stable_sort(matches.begin(), matches.end(), less);
    std::vector<std::string> ids;
    for (const Row* row : matches) ids.push_back(row->token.id);
    return ids;
  }

  // Every page of `query` at `page_size`, one after the other, plus the counts they reported.
  static std::vector<std::string> AllPages(TokenQuery query, std::int64_t page_size,
                                           std::int64_t& count) {
    std::vector<std::string> ids;
    query.limit = page_size;
    for (query.offset = 0;; query.offset += page_size) {
      auto page = store_->SearchTokens(query);
      EXPECT_TRUE(page) << page.error().internal;
      if (!page) return ids;
      if (query.offset == 0) count = page->count;
      EXPECT_EQ(page->count, count) << "the count changed between pages";
      for (const auto& token : page->tokens) {
        EXPECT_EQ(token.organization_id, organization_.id);
        ids.push_back(token.id);
      }
      if (static_cast<std::int64_t>(page->tokens.size()) < page_size) break;
    }
    return ids;
  }

  // Every filter, with SQLite's name index used as `use` says.
  static void CheckEveryFilter(
      SqliteStore::NameIndexUse use = SqliteStore::NameIndexUse::kWhenCheaper);

  static constexpr int kTokens = 6000;
  static inline std::filesystem::path dir_;
  static inline Store* store_ = nullptr;
  static inline SqliteStore* sqlite_ = nullptr;       // store_ on SQLite
  static inline PgStore* pg_ = nullptr;               // store_ on PostgreSQL
  static inline PgTestDatabase* database_ = nullptr;  // on PostgreSQL
  static inline Organization organization_;
  static inline std::vector<Project> projects_;
  static inline std::vector<Row> rows_;
};

using TokenSearchTest = TokenSearchFixture<Backend::kSqlite>;
using PgTokenSearchTest = TokenSearchFixture<Backend::kPostgres>;

// Whether, within 5 s, a session of the test database waits for a row lock (the statement a
// test started on another thread has reached the row it holds).
bool SomeoneWaitsForALock(const std::string& url) {
  auto watcher = pg::Connection::Open(url);
  if (!watcher) return false;
  for (int i = 0; i < 500; ++i) {
    auto rows = (*watcher)->Exec(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "wait_event_type = 'Lock'");
    if (!rows) return false;
    if (rows->Int(0, 0) > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

const std::vector<std::vector<TokenStatus>> kStatusFilters = {
    {},
    {TokenStatus::kActive, TokenStatus::kBlocked},
    {TokenStatus::kActive},
    {TokenStatus::kBlocked},
    {TokenStatus::kRevoked}};

template <Backend kBackend>
void CheckEveryOrder() {
  using Fixture = TokenSearchFixture<kBackend>;
  for (auto key :
       {TokenOrderKey::kName, TokenOrderKey::kDescription, TokenOrderKey::kStatus,
        TokenOrderKey::kProjectName, TokenOrderKey::kTimestamp, TokenOrderKey::kLastUsedAt}) {
    for (bool descending : {false, true}) {
      for (const auto& statuses : {kStatusFilters[1], kStatusFilters[3]}) {
        TokenQuery query{.organization_id = Fixture::organization_.id,
                         .statuses = statuses,
                         .order_key = key,
                         .descending = descending};
        std::int64_t count = -1;
        const auto expected = Fixture::Expected(query);
        EXPECT_EQ(Fixture::AllPages(query, 500, count), expected)
            << "order " << static_cast<int>(key) << " desc " << descending;
        EXPECT_EQ(count, static_cast<std::int64_t>(expected.size()));
      }
    }
  }
}

TEST_F(PgTokenSearchTest, EveryOrderAndDirectionMatchesBruteForceOnEveryPageWithTies) {
  CheckEveryOrder<Backend::kPostgres>();
}

TEST_F(PgTokenSearchTest, EveryFilterMatchesBruteForce) { CheckEveryFilter(); }

TEST_F(PgTokenSearchTest, EveryFilterMatchesBruteForceWithoutTheNameIndex) {
  CheckEveryFilter(SqliteStore::NameIndexUse::kNever);
}

TEST_F(TokenSearchTest, EveryOrderAndDirectionMatchesBruteForceOnEveryPageWithTies) {
  for (auto key :
       {TokenOrderKey::kName, TokenOrderKey::kDescription, TokenOrderKey::kStatus,
        TokenOrderKey::kProjectName, TokenOrderKey::kTimestamp, TokenOrderKey::kLastUsedAt}) {
    for (bool descending : {false, true}) {
      for (const auto& statuses : {kStatusFilters[1], kStatusFilters[3]}) {
        TokenQuery query{.organization_id = organization_.id,
                         .statuses = statuses,
                         .order_key = key,
                         .descending = descending};
        std::int64_t count = -1;
        const auto expected = Expected(query);
        EXPECT_EQ(AllPages(query, 500, count), expected)
            << "order " << static_cast<int>(key) << " desc " << descending;
        EXPECT_EQ(count, static_cast<std::int64_t>(expected.size()));
      }
    }
  }
}

TEST_F(TokenSearchTest, TheNameIndexSortsTiesAsTheSqlOrdersDo) {
  sqlite_->UseNameIndex(SqliteStore::NameIndexUse::kAlways);
  // Selecting among the matches, then walking the ranked order that RefreshSearchIndex makes.
  for (int ranked = 0; ranked < 2; ++ranked) {
    if (ranked) {
      ASSERT_TRUE(store_->RefreshSearchIndex());
    }
    for (auto [key, descending] :
         {std::pair{TokenOrderKey::kName, false}, std::pair{TokenOrderKey::kName, true},
          std::pair{TokenOrderKey::kStatus, false}, std::pair{TokenOrderKey::kStatus, true},
          std::pair{TokenOrderKey::kTimestamp, false}, std::pair{TokenOrderKey::kTimestamp, true},
          std::pair{TokenOrderKey::kProjectName, false},
          std::pair{TokenOrderKey::kProjectName, true},
          std::pair{TokenOrderKey::kDescription, false},
          std::pair{TokenOrderKey::kDescription, true},
          std::pair{TokenOrderKey::kLastUsedAt, false},
          std::pair{TokenOrderKey::kLastUsedAt, true}}) {
      for (const auto& statuses : kStatusFilters) {
        TokenQuery query{.organization_id = organization_.id,
                         .statuses = statuses,
                         .order_key = key,
                         .descending = descending};
        std::int64_t count = -1;
        const auto expected = Expected(query);
        EXPECT_EQ(AllPages(query, 499, count), expected)
            << "order " << static_cast<int>(key) << " desc " << descending << " ranked " << ranked;
        EXPECT_EQ(count, static_cast<std::int64_t>(expected.size()));
        query.scope = TokenScope::kProject;
        query.project_name_contains = "support";
        EXPECT_EQ(AllPages(query, 499, count), Expected(query))
            << "order " << static_cast<int>(key) << " desc " << descending << " ranked " << ranked;
        EXPECT_EQ(count, static_cast<std::int64_t>(Expected(query).size()));
      }
    }
  }
  sqlite_->UseNameIndex(SqliteStore::NameIndexUse::kWhenCheaper);
}

TEST_F(TokenSearchTest, EveryFilterMatchesBruteForce) {
  CheckEveryFilter(SqliteStore::NameIndexUse::kWhenCheaper);
}

TEST_F(TokenSearchTest, EveryFilterMatchesBruteForceWithoutTheNameIndex) {
  CheckEveryFilter(SqliteStore::NameIndexUse::kNever);
}

TEST_F(TokenSearchTest, EveryFilterMatchesBruteForceThroughTheNameIndexAlone) {
  CheckEveryFilter(SqliteStore::NameIndexUse::kAlways);
}

template <Backend kBackend>
void TokenSearchFixture<kBackend>::CheckEveryFilter(SqliteStore::NameIndexUse use) {
  if (sqlite_) sqlite_->UseNameIndex(use);
  if (pg_) pg_->UseNameIndex(use != SqliteStore::NameIndexUse::kNever);
  std::vector<std::string> texts = {"c",  "C",      "%",   "_",       "'",   "\"",    "é",    "É",
                                    "日", "ci",     "a_b", "100%",    "o'n", "\"q\"", "café", "caf",
                                    "本", "deploy", "Ω",   "nomatch", "x1",  "zz1",   "Build"};
  int checked = 0;
  for (const auto& statuses : kStatusFilters) {
    for (std::optional<TokenScope> scope :
         {std::optional<TokenScope>(), std::optional<TokenScope>(TokenScope::kOrganization),
          std::optional<TokenScope>(TokenScope::kProject)}) {
      for (const auto& text : texts) {
        for (bool on_project : {false, true}) {
          TokenQuery query{
              .organization_id = organization_.id, .scope = scope, .statuses = statuses};
          (on_project ? query.project_name_contains : query.name_contains) = text;
          query.order_key = checked % 2 ? TokenOrderKey::kTimestamp : TokenOrderKey::kName;
          query.descending = checked % 3 == 0;
          std::int64_t count = -1;
          const auto expected = Expected(query);
          EXPECT_EQ(AllPages(query, 97, count), expected) << "text " << text;
          EXPECT_EQ(count, static_cast<std::int64_t>(expected.size())) << "text " << text;
          ++checked;
        }
      }
      TokenQuery by_project{.organization_id = organization_.id,
                            .scope = scope,
                            .project_id = projects_[2].id,
                            .statuses = statuses};
      std::int64_t count = -1;
      EXPECT_EQ(AllPages(by_project, 1000, count), Expected(by_project));
      EXPECT_EQ(count, static_cast<std::int64_t>(Expected(by_project).size()));
    }
  }
  // A name filter with a project filter, in every order.
  for (auto key :
       {TokenOrderKey::kName, TokenOrderKey::kDescription, TokenOrderKey::kStatus,
        TokenOrderKey::kProjectName, TokenOrderKey::kTimestamp, TokenOrderKey::kLastUsedAt}) {
    for (const char* text : {"c", "café", "x"}) {
      TokenQuery query{.organization_id = organization_.id,
                       .name_contains = text,
                       .project_name_contains = "support",
                       .order_key = key,
                       .descending = key == TokenOrderKey::kStatus};
      std::int64_t count = -1;
      EXPECT_EQ(AllPages(query, 50, count), Expected(query)) << "text " << text;
      EXPECT_EQ(count, static_cast<std::int64_t>(Expected(query).size()));
      query.project_name_contains.clear();
      query.project_id = projects_[1].id;
      EXPECT_EQ(AllPages(query, 50, count), Expected(query)) << "text " << text;
      EXPECT_EQ(count, static_cast<std::int64_t>(Expected(query).size()));
    }
  }
  if (sqlite_) sqlite_->UseNameIndex(SqliteStore::NameIndexUse::kWhenCheaper);
  if (pg_) pg_->UseNameIndex(true);
}

template <Backend kBackend>
void CheckCountsFollowChanges() {
  using Fixture = TokenSearchFixture<kBackend>;
  Store* store_ = Fixture::store_;
  const Organization& organization_ = Fixture::organization_;
  const auto& rows_ = Fixture::rows_;
  const auto& projects_ = Fixture::projects_;
  TokenQuery blocked{.organization_id = organization_.id, .statuses = {TokenStatus::kBlocked}};
  const std::int64_t before = store_->SearchTokens(blocked)->count;
  const Row* active = nullptr;
  for (const auto& row : rows_) {
    if (row.token.status == TokenStatus::kActive && row.token.scope == TokenScope::kProject) {
      active = &row;
      break;
    }
  }
  ASSERT_NE(active, nullptr);
  ASSERT_TRUE(store_->ChangeToken(organization_.id, active->token.id,
                                  TokenChange{.status = TokenStatus::kBlocked}, 2000, {}));
  EXPECT_EQ(store_->SearchTokens(blocked)->count, before + 1);
  ASSERT_TRUE(store_->ChangeToken(organization_.id, active->token.id,
                                  TokenChange{.status = TokenStatus::kActive}, 2001, {}));
  EXPECT_EQ(store_->SearchTokens(blocked)->count, before);

  Project renamed = projects_[0];
  renamed.name = "Renamed-Ω";
  ASSERT_TRUE(store_->UpdateProject(projects_[0], renamed));
  TokenQuery by_name{.organization_id = organization_.id, .project_name_contains = "renamed-Ω"};
  auto page = store_->SearchTokens(by_name);
  ASSERT_TRUE(page);
  std::int64_t in_project = 0;
  for (const auto& row : rows_) in_project += row.token.project_id == renamed.id;
  EXPECT_EQ(page->count, in_project);
  ASSERT_FALSE(page->tokens.empty());
  EXPECT_EQ(page->tokens.front().project_name, "Renamed-Ω");
  const Project back = renamed;
  renamed.name = projects_[0].name;
  ASSERT_TRUE(store_->UpdateProject(back, renamed));
}

TEST_F(TokenSearchTest, CountsFollowStatusChangesAndProjectRenames) {
  CheckCountsFollowChanges<Backend::kSqlite>();
}

TEST_F(PgTokenSearchTest, CountsFollowStatusChangesAndProjectRenames) {
  CheckCountsFollowChanges<Backend::kPostgres>();
}

// Several nodes on one database: each node's name index reads what the others change at its
// next search, including a token committed after one with a larger seq (nodes draw seqs
// concurrently), which the index places among its entries.
TEST_F(PgTokenSearchTest, NameSearchesSeeEveryNodesChangesAtOnceInAnyCommitOrder) {
  Organization nodes{NewUuid(), "Nodes", "", 1};
  ApiToken owner = Other(nodes);
  owner.name = "owner";
  ASSERT_TRUE(store_->CreateOrganization(nodes, owner, Credential()));
  auto names = [&](const std::string& text) {
    auto page =
        store_->SearchTokens(TokenQuery{.organization_id = nodes.id, .name_contains = text});
    EXPECT_TRUE(page) << page.error().internal;
    std::vector<std::string> found;
    if (page) {
      for (const auto& token : page->tokens) found.push_back(token.name);
    }
    return found;
  };
  ASSERT_EQ(names("owner"), std::vector<std::string>{"owner"});  // the index is loaded

  // A transaction of "another node" takes a seq and commits only after larger ones did (a
  // blocked token: api_token_counts' row of active ones would make the two wait for each other).
  auto late = pg::Connection::Open(database_->url());
  ASSERT_TRUE(late) << late.error().internal;
  ASSERT_TRUE((*late)->Run("BEGIN"));
  ASSERT_TRUE((*late)->Run(
      "INSERT INTO api_tokens (id, organization_id, scope, name, status, secret_hash, "
      "secret_prefix, created_at, updated_at) VALUES ($1, $2, $3, 'node-late', $4, '\\x00', "
      "'gto_abcd', 1, 1)",
      pg::Params()
          .Text(NewUuid())
          .Text(nodes.id)
          .Int(StoredCode(TokenScope::kOrganization))
          .Int(StoredCode(TokenStatus::kBlocked))));
  std::vector<std::pair<ApiToken, TokenCredential>> batch;
  for (const char* name : {"node-e", "node-d", "node-c", "node-b", "node-a"}) {
    ApiToken token = Other(nodes);
    token.name = name;
    batch.emplace_back(token, Credential());
  }
  ASSERT_TRUE(store_->InsertTokens(batch));
  EXPECT_EQ(names("node-"),
            (std::vector<std::string>{"node-a", "node-b", "node-c", "node-d", "node-e"}));
  ASSERT_TRUE((*late)->Run("COMMIT"));
  EXPECT_EQ(names("node-"), (std::vector<std::string>{"node-a", "node-b", "node-c", "node-d",
                                                      "node-e", "node-late"}));
  EXPECT_EQ(names("late"), std::vector<std::string>{"node-late"});
  EXPECT_EQ(names("e"), (std::vector<std::string>{"node-a", "node-b", "node-c", "node-d", "node-e",
                                                  "node-late", "owner"}));

  // Another node renames and blocks; this one's next search sees both.
  PgStore other(
      PgStore::Options{.url = database_->url(), .connections = 2, .export_connections = 1});
  ASSERT_TRUE(other.ChangeToken(nodes.id, batch[2].first.id,
                                TokenChange{.name = std::string("renamed-c")}, 3000, {}));
  ASSERT_TRUE(other.ChangeToken(nodes.id, batch[0].first.id,
                                TokenChange{.status = TokenStatus::kBlocked}, 3001, {}));
  EXPECT_EQ(names("node-c"), std::vector<std::string>{});
  EXPECT_EQ(names("renamed"), std::vector<std::string>{"renamed-c"});
  auto blocked = store_->SearchTokens(TokenQuery{
      .organization_id = nodes.id, .name_contains = "node", .statuses = {TokenStatus::kBlocked}});
  ASSERT_TRUE(blocked);
  std::vector<std::string> blocked_names;
  for (const auto& token : blocked->tokens) blocked_names.push_back(token.name);
  EXPECT_EQ(blocked_names, (std::vector<std::string>{"node-e", "node-late"}));
}

// A token's change of status takes its project's count rows in key order. Taken old row first,
// a change from blocked to active beside a transaction holding the row of active tokens (as a
// token's creation does) held the row of blocked ones while it waited; that transaction's next
// change of a blocked token then waited for it: a deadlock, and a 503 for one of the two.
TEST_F(PgTokenSearchTest, OppositeTokenChangesInOneProjectNeverDeadlock) {
  Organization counts{NewUuid(), "Counts", "", 1};
  ASSERT_TRUE(store_->CreateOrganization(counts, Other(counts), Credential()));
  Project project{NewUuid(), counts.id, "", "Locks", "", "", true, 1, 1};
  auto token = [&](TokenStatus status, const char* name) {
    ApiToken made = Other(counts);
    made.name = name;
    made.scope = TokenScope::kProject;
    made.project_id = project.id;
    made.project_name = project.name;
    made.status = status;
    return made;
  };
  const ApiToken active = token(TokenStatus::kActive, "active");
  ASSERT_TRUE(store_->CreateProject(project, active, Credential()));
  const ApiToken unblocked = token(TokenStatus::kBlocked, "unblocked");
  const ApiToken revoked = token(TokenStatus::kBlocked, "revoked");
  auto inserted = store_->InsertTokens({{unblocked, Credential()}, {revoked, Credential()}});
  ASSERT_TRUE(inserted);
  for (const auto& outcome : *inserted) ASSERT_TRUE(outcome);

  auto holder = pg::Connection::Open(database_->url());
  ASSERT_TRUE(holder) << holder.error().internal;
  ASSERT_TRUE((*holder)->Run("BEGIN"));
  ASSERT_TRUE((*holder)->Run(
      "SELECT 1 FROM api_token_counts WHERE organization_id = $1 AND project_id = $2 AND "
      "status = $3 FOR NO KEY UPDATE",
      pg::Params().Text(counts.id).Text(project.id).Int(StoredCode(TokenStatus::kActive))));
  Result<TokenChangeResult> changed = Fail(ErrorCode::kInternal);
  std::thread unblock([&] {
    changed = store_->ChangeToken(counts.id, unblocked.id,
                                  TokenChange{.status = TokenStatus::kActive}, 2000, {});
  });
  // The change waits for the held row before the holder goes on (PostgreSQL shows the wait).
  // (No ASSERT until the thread is joined.)
  EXPECT_TRUE(SomeoneWaitsForALock(database_->url())) << "the change never waited for the held row";
  const auto revoke =
      (*holder)->Run("UPDATE api_tokens SET status = $1 WHERE id = $2",
                     pg::Params().Int(StoredCode(TokenStatus::kRevoked)).Text(revoked.id));
  EXPECT_TRUE(revoke) << revoke.error().internal;
  EXPECT_TRUE((*holder)->Run(revoke ? "COMMIT" : "ROLLBACK"));
  unblock.join();
  EXPECT_TRUE(changed) << (changed ? "" : changed.error().internal);

  auto count = [&](TokenStatus status) {
    auto page = store_->SearchTokens(
        TokenQuery{.organization_id = counts.id, .project_id = project.id, .statuses = {status}});
    EXPECT_TRUE(page);
    return page ? page->count : -1;
  };
  EXPECT_EQ(count(TokenStatus::kActive), 2);
  EXPECT_EQ(count(TokenStatus::kBlocked), 0);
  EXPECT_EQ(count(TokenStatus::kRevoked), 1);
}

// Starting with reveal = "never" discards every sealed secret without holding one row while it
// waits for another: a row another transaction holds is left for last, and cleared alone.
// One UPDATE of them all held the first row while waiting for a later one; that transaction's
// next change of the first then deadlocked with it, and the node failed to start.
TEST_F(PgTokenSearchTest, DiscardingSealedSecretsNeverHoldsARowWhileItWaits) {
  Organization sealed{NewUuid(), "Sealed", "", 1};
  ASSERT_TRUE(store_->CreateOrganization(sealed, Other(sealed), Credential()));
  const TokenCredential with_secret{NewUuid(), std::string("sealed-bytes"), {}, {}};
  auto insert = [&](const char* name) {
    ApiToken token = Other(sealed);
    token.name = name;
    auto inserted = store_->InsertTokens({{token, with_secret}});
    EXPECT_TRUE(inserted && inserted->front()) << name;
    return token;
  };
  const ApiToken first = insert("first");  // first in the table's order
  const ApiToken held = insert("held");

  auto holder = pg::Connection::Open(database_->url());
  ASSERT_TRUE(holder) << holder.error().internal;
  auto watcher = pg::Connection::Open(database_->url());
  ASSERT_TRUE(watcher) << watcher.error().internal;
  auto sealed_left = [&](const std::string& id) {
    auto rows = (*watcher)->Exec("SELECT sealed_secret IS NOT NULL FROM api_tokens WHERE id = $1",
                                 pg::Params().Text(id));
    return rows && rows->Bool(0, 0);
  };
  ASSERT_TRUE(sealed_left(first.id));
  ASSERT_TRUE((*holder)->Run("BEGIN"));
  ASSERT_TRUE((*holder)->Run("SELECT 1 FROM api_tokens WHERE id = $1 FOR NO KEY UPDATE",
                             pg::Params().Text(held.id)));
  Status discarded = Fail(ErrorCode::kInternal);
  std::thread discard([&] { discarded = store_->DiscardSealedSecrets(); });
  // (No ASSERT until the thread is joined.)
  EXPECT_TRUE(SomeoneWaitsForALock(database_->url()))
      << "the discard never waited for the held row";
  EXPECT_FALSE(sealed_left(first.id)) << "the rows nobody holds are cleared and committed first";
  const auto changed = (*holder)->Run("UPDATE api_tokens SET description = 'x' WHERE id = $1",
                                      pg::Params().Text(first.id));
  EXPECT_TRUE(changed) << changed.error().internal;
  EXPECT_TRUE((*holder)->Run(changed ? "COMMIT" : "ROLLBACK"));
  discard.join();
  EXPECT_TRUE(discarded) << (discarded ? "" : discarded.error().internal);
  EXPECT_FALSE(sealed_left(first.id));
  EXPECT_FALSE(sealed_left(held.id));
}

}  // namespace
}  // namespace gatehouse
