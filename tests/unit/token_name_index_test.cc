// The in-memory token name index behind name searches (store/token_name_index.h): once loaded
// it follows every change of a token, whoever makes it, as the searches see them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "core/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

class TokenNameIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gatehouse-name-index-" + std::to_string(::getpid()) + "-" + NewUuid());
    std::filesystem::create_directories(dir_);
    store_ = std::make_unique<SqliteStore>(Path());
    organization_ = Organization{NewUuid(), "Acme", "", 1};
    ASSERT_TRUE(
        store_->CreateOrganization(organization_, Token("owner", nullptr, 1), Credential()));
    project_ = Project{NewUuid(), organization_.id, "", "Support", "", "", true, 1, 1};
    ASSERT_TRUE(store_->CreateProject(project_, Token("default", &project_, 1), Credential()));
    // Loads the index: later changes reach it only through its syncs.
    ASSERT_TRUE(store_->RefreshSearchIndex());
  }

  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Path() const { return (dir_ / "test.db").string(); }

  static TokenCredential Credential() { return TokenCredential{NewUuid(), {}, {}, {}}; }

  ApiToken Token(const std::string& name, const Project* project, TimeMs at) const {
    ApiToken token;
    token.id = NewUuid();
    token.organization_id = organization_.id;
    token.scope = project ? TokenScope::kProject : TokenScope::kOrganization;
    if (project) {
      token.project_id = project->id;
      token.project_name = project->name;
    }
    token.name = name;
    token.status = TokenStatus::kActive;
    token.created_at = token.updated_at = at;
    token.secret_prefix = "gtp_abcd";
    return token;
  }

  // The names of the tokens whose name contains `text`, in name order.
  std::vector<std::string> Named(SqliteStore& store, const std::string& text,
                                 std::vector<TokenStatus> statuses = {}) const {
    auto page = store.SearchTokens(
        {.organization_id = organization_.id, .name_contains = text, .statuses = statuses});
    EXPECT_TRUE(page) << page.error().internal;
    std::vector<std::string> names;
    if (!page) return names;
    for (const auto& token : page->tokens) names.push_back(token.name);
    EXPECT_EQ(page->count, static_cast<std::int64_t>(names.size()));
    return names;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
  Organization organization_;
  Project project_;
};

TEST_F(TokenNameIndexTest, FindsATokenCreatedAfterItLoaded) {
  ASSERT_TRUE(store_->InsertToken(Token("Deploy-QZ", &project_, 10), Credential()));
  EXPECT_EQ(Named(*store_, "qz"), std::vector<std::string>{"Deploy-QZ"});
  EXPECT_EQ(Named(*store_, "y-q"), std::vector<std::string>{"Deploy-QZ"});
}

TEST_F(TokenNameIndexTest, FindsARenamedTokenByItsNewNameOnly) {
  ApiToken token = Token("before-name", &project_, 10);
  ASSERT_TRUE(store_->InsertToken(token, Credential()));
  ASSERT_EQ(Named(*store_, "before").size(), 1u);
  ASSERT_TRUE(store_->ChangeToken(organization_.id, token.id,
                                  TokenChange{.name = std::string("after-name")}, 20, {}));
  EXPECT_TRUE(Named(*store_, "before").empty());
  EXPECT_EQ(Named(*store_, "after"), std::vector<std::string>{"after-name"});
  // Only the case changes: still found, under the new spelling.
  ASSERT_TRUE(store_->ChangeToken(organization_.id, token.id,
                                  TokenChange{.name = std::string("AFTER-name")}, 30, {}));
  EXPECT_EQ(Named(*store_, "after"), std::vector<std::string>{"AFTER-name"});
}

TEST_F(TokenNameIndexTest, FollowsStatusChanges) {
  ApiToken token = Token("status-watch", &project_, 10);
  ASSERT_TRUE(store_->InsertToken(token, Credential()));
  EXPECT_TRUE(Named(*store_, "watch", {TokenStatus::kBlocked}).empty());
  ASSERT_TRUE(store_->ChangeToken(organization_.id, token.id,
                                  TokenChange{.status = TokenStatus::kBlocked}, 20, {}));
  EXPECT_EQ(Named(*store_, "watch", {TokenStatus::kBlocked}).size(), 1u);
  EXPECT_TRUE(Named(*store_, "watch", {TokenStatus::kActive}).empty());
}

TEST_F(TokenNameIndexTest, FindsATokenStampedBeforeEverythingItHasSeen) {
  // A clock set back: the new row's stamp is older than any the index has read.
  ASSERT_TRUE(store_->InsertToken(Token("late-stamp", &project_, 1'000'000), Credential()));
  ASSERT_EQ(Named(*store_, "late").size(), 1u);
  ASSERT_TRUE(store_->InsertToken(Token("early-stamp", &project_, 5), Credential()));
  EXPECT_EQ(Named(*store_, "early"), std::vector<std::string>{"early-stamp"});
}

TEST_F(TokenNameIndexTest, SeesChangesMadeThroughAnotherConnection) {
  ASSERT_EQ(Named(*store_, "default").size(), 1u);
  SqliteStore other(Path());  // as the CLI beside a running server
  ASSERT_TRUE(other.InsertToken(Token("from-the-cli", &project_, 10), Credential()));
  EXPECT_EQ(Named(*store_, "cli"), std::vector<std::string>{"from-the-cli"});
}

TEST_F(TokenNameIndexTest, StaysRightThroughManyRenames) {
  std::vector<ApiToken> tokens;
  for (int i = 0; i < 50; ++i) {
    tokens.push_back(Token("steady-" + std::to_string(i), &project_, 10));
    ASSERT_TRUE(store_->InsertToken(tokens.back(), Credential()));
  }
  // Enough replaced text to compact the organization's names more than once.
  const std::string long_part(400, 'n');
  for (int round = 0; round < 200; ++round) {
    const std::string name = "moving-" + std::to_string(round) + long_part;
    ASSERT_TRUE(store_->ChangeToken(organization_.id, tokens[round % 50].id,
                                    TokenChange{.name = name}, 20 + round, {}));
    ASSERT_EQ(Named(*store_, "moving-" + std::to_string(round) + "n"),
              std::vector<std::string>{name});
  }
  EXPECT_EQ(Named(*store_, "moving-").size(), 50u);
  EXPECT_TRUE(Named(*store_, "steady-").empty());
  EXPECT_TRUE(Named(*store_, "moving-149n").empty()) << "a name replaced later still matches";
  EXPECT_EQ(Named(*store_, "moving-199n").size(), 1u);
}

TEST_F(TokenNameIndexTest, ProjectFiltersFollowAProjectRename) {
  ASSERT_TRUE(store_->InsertToken(Token("in-support", &project_, 10), Credential()));
  Project renamed = project_;
  renamed.name = "Helpdesk";
  renamed.updated_at = 20;
  ASSERT_TRUE(store_->UpdateProject(project_, renamed));
  auto page = store_->SearchTokens({.organization_id = organization_.id,
                                    .name_contains = "support",
                                    .project_name_contains = "help"});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->tokens.size(), 1u);
  EXPECT_EQ(page->tokens[0].project_name, "Helpdesk");
}

TEST_F(TokenNameIndexTest, CountsEveryMatchWithoutANameFilter) {
  // The bound on counts (docs/api-decisions.md) is for name filters only.
  std::vector<std::pair<ApiToken, TokenCredential>> batch;
  for (int i = 0; i < 10'050; ++i)
    batch.emplace_back(Token("bulk-" + std::to_string(i), &project_, 10), Credential());
  ASSERT_TRUE(store_->InsertTokens(batch));
  store_->UseNameIndex(SqliteStore::NameIndexUse::kAlways);
  auto page =
      store_->SearchTokens({.organization_id = organization_.id, .offset = 10'030, .limit = 40});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->count, 10'052);
  EXPECT_FALSE(page->count_is_lower_bound);
  ASSERT_EQ(page->tokens.size(), 22u);
  EXPECT_EQ(page->tokens.back().name, "owner");
  auto named = store_->SearchTokens({.organization_id = organization_.id, .name_contains = "bulk"});
  ASSERT_TRUE(named);
  EXPECT_EQ(named->count, 10'000);
  EXPECT_TRUE(named->count_is_lower_bound);
}

// Every page of `query` in name order, through the name index (`use`) or the SQL plans alone.
std::vector<std::string> AllIds(SqliteStore& store, TokenQuery query,
                                SqliteStore::NameIndexUse use) {
  store.UseNameIndex(use);
  std::vector<std::string> ids;
  query.limit = 37;
  for (query.offset = 0;; query.offset += query.limit) {
    auto page = store.SearchTokens(query);
    EXPECT_TRUE(page) << page.error().internal;
    if (!page) break;
    for (const auto& token : page->tokens) ids.push_back(token.id);
    if (std::ssize(page->tokens) < query.limit) break;
  }
  store.UseNameIndex(SqliteStore::NameIndexUse::kWhenCheaper);
  return ids;
}

TEST_F(TokenNameIndexTest, TheRankedNameOrderFollowsChangesBeforeAndAfterTheyAreMerged) {
  store_->MergeSearchOrdersAtOnce();
  Project other{NewUuid(), organization_.id, "", "Billing", "", "", true, 1, 1};
  ASSERT_TRUE(store_->CreateProject(other, Token("default", &other, 1), Credential()));
  std::vector<ApiToken> tokens;
  const char* names[] = {"alpha", "Beta", "beta", "gamma", "ALPHA", "delta"};
  for (int i = 0; i < 300; ++i) {
    tokens.push_back(Token(names[i % 6], i % 3 ? &project_ : (i % 2 ? &other : nullptr), 10 + i));
    tokens.back().name += std::to_string(i / 6);  // "alpha3" and "ALPHA3": tied names
    if (i % 5 == 0) tokens.back().status = TokenStatus::kBlocked;
    ASSERT_TRUE(store_->InsertToken(tokens.back(), Credential()));
  }
  auto check = [&](const std::string& when) {
    for (auto [key, descending] :
         {std::pair{TokenOrderKey::kName, false}, std::pair{TokenOrderKey::kName, true},
          std::pair{TokenOrderKey::kTimestamp, false}, std::pair{TokenOrderKey::kProjectName, true},
          std::pair{TokenOrderKey::kStatus, false}, std::pair{TokenOrderKey::kDescription, true},
          std::pair{TokenOrderKey::kLastUsedAt, false}}) {
      for (std::vector<TokenStatus> statuses :
           {std::vector<TokenStatus>{}, std::vector<TokenStatus>{TokenStatus::kBlocked}}) {
        TokenQuery query{.organization_id = organization_.id,
                         .statuses = statuses,
                         .order_key = key,
                         .descending = descending};
        const auto expected = AllIds(*store_, query, SqliteStore::NameIndexUse::kNever);
        EXPECT_EQ(AllIds(*store_, query, SqliteStore::NameIndexUse::kAlways), expected)
            << when << ", order " << static_cast<int>(key) << (descending ? ", descending" : "");
        query.project_name_contains = "support";
        EXPECT_EQ(AllIds(*store_, query, SqliteStore::NameIndexUse::kAlways),
                  AllIds(*store_, query, SqliteStore::NameIndexUse::kNever))
            << when << ", one project";
      }
    }
  };
  ASSERT_TRUE(store_->RefreshSearchIndex());  // ranks every token
  check("ranked");
  for (int i = 0; i < 300; i += 11) {
    ASSERT_TRUE(store_->ChangeToken(organization_.id, tokens[i].id,
                                    TokenChange{.name = "Beta-" + std::to_string(i)}, 400 + i, {}));
  }
  for (int i = 3; i < 300; i += 13) {
    ASSERT_TRUE(store_->ChangeToken(organization_.id, tokens[i].id,
                                    TokenChange{.status = TokenStatus::kBlocked}, 800 + i, {}));
  }
  for (int i = 1; i < 300; i += 17) {
    ASSERT_TRUE(store_->ChangeToken(organization_.id, tokens[i].id,
                                    TokenChange{.description = i % 2 ? "Nightly" : "nightly"},
                                    850 + i, {}));
  }
  std::vector<std::pair<std::string, TimeMs>> uses;
  for (int i = 2; i < 300; i += 7) uses.emplace_back(tokens[i].id, 5000 + i % 4);
  ASSERT_TRUE(store_->RecordLastUsed(uses));
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(store_->InsertToken(
        Token(names[i % 6] + std::string("-new-") + std::to_string(i), &project_, 900 + i),
        Credential()));
  }
  check("changed since ranked");
  ASSERT_TRUE(store_->RefreshSearchIndex());  // merges the changes into the order
  check("merged");
  Project renamed = other;
  renamed.name = "Accounts";
  renamed.updated_at = 2000;
  ASSERT_TRUE(store_->UpdateProject(other, renamed));  // moves its tokens among equal names
  check("project renamed");
  ASSERT_TRUE(store_->RefreshSearchIndex());
  check("ranked again");
}

TEST_F(TokenNameIndexTest, LastUsesMoveTokensInTheLastUseOrderOnly) {
  std::vector<std::pair<ApiToken, TokenCredential>> batch;
  for (int i = 0; i < 5000; ++i) {
    batch.emplace_back(Token("t" + std::to_string(i * 7919 % 5000), &project_, 10), Credential());
  }
  ASSERT_TRUE(store_->InsertTokens(batch));
  ASSERT_TRUE(store_->RefreshSearchIndex());
  auto plan = [&](TokenOrderKey key) {
    auto explained = store_->ExplainSearchTokens(
        {.organization_id = organization_.id, .order_key = key, .offset = 100, .limit = 20});
    EXPECT_TRUE(explained);
    return explained ? *explained : std::string();
  };
  auto check = [&](const std::string& when) {
    for (bool descending : {false, true}) {
      TokenQuery query{.organization_id = organization_.id,
                       .order_key = TokenOrderKey::kLastUsedAt,
                       .descending = descending};
      EXPECT_EQ(AllIds(*store_, query, SqliteStore::NameIndexUse::kWhenCheaper),
                AllIds(*store_, query, SqliteStore::NameIndexUse::kNever))
          << when;
    }
  };
  const std::string ranked = "ranked order";
  EXPECT_NE(plan(TokenOrderKey::kLastUsedAt).find(ranked), std::string::npos);
  // A few uses are placed among the ranked order; more than a search places fall back to SQL
  // until the next Rank, and the other orders stay ranked meanwhile.
  std::vector<std::pair<std::string, TimeMs>> uses;
  for (int i = 0; i < 5000; i += 3) uses.emplace_back(batch[i].first.id, 700 - i % 11);
  ASSERT_TRUE(store_->RecordLastUsed(uses));
  EXPECT_NE(plan(TokenOrderKey::kLastUsedAt).find(ranked), std::string::npos);
  check("a few uses");
  uses.clear();
  for (int i = 1; i < 5000; i += 1) uses.emplace_back(batch[i].first.id, 900 + i % 13);
  ASSERT_TRUE(store_->RecordLastUsed(uses));
  EXPECT_EQ(plan(TokenOrderKey::kLastUsedAt).find(ranked), std::string::npos);
  EXPECT_NE(plan(TokenOrderKey::kName).find(ranked), std::string::npos);
  EXPECT_NE(plan(TokenOrderKey::kDescription).find(ranked), std::string::npos);
  check("many uses");
  // An earlier use than the recorded one changes nothing (the store keeps the latest).
  ASSERT_TRUE(store_->RecordLastUsed({{batch[1].first.id, 1}}));
  ASSERT_TRUE(store_->RefreshSearchIndex());
  EXPECT_NE(plan(TokenOrderKey::kLastUsedAt).find(ranked), std::string::npos);
  check("ranked again");
}

TEST_F(TokenNameIndexTest, LastUsesRecordedBeforeItLoadsAreInItsOrder) {
  const ApiToken late = Token("late", &project_, 10);
  ASSERT_TRUE(store_->InsertToken(late, Credential()));
  SqliteStore other(Path());  // its index loads at its first refresh
  ASSERT_TRUE(other.RecordLastUsed({{late.id, 123456}}));
  ASSERT_TRUE(other.RefreshSearchIndex());
  TokenQuery query{.organization_id = organization_.id,
                   .order_key = TokenOrderKey::kLastUsedAt,
                   .descending = true};
  const auto ids = AllIds(other, query, SqliteStore::NameIndexUse::kAlways);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), late.id);
  EXPECT_EQ(ids, AllIds(other, query, SqliteStore::NameIndexUse::kNever));
}

TEST_F(TokenNameIndexTest, ChangesMadeWhileItRanksAreNotLost) {
  store_->MergeSearchOrdersAtOnce();
  std::vector<std::pair<ApiToken, TokenCredential>> batch;
  for (int i = 0; i < 3000; ++i) {
    batch.emplace_back(Token("t" + std::to_string(i * 7919 % 3000), &project_, 10), Credential());
  }
  ASSERT_TRUE(store_->InsertTokens(batch));
  std::atomic<bool> done = false;
  std::thread changer([&] {
    for (int i = 0; i < 400; ++i) {
      const ApiToken& token = batch[static_cast<std::size_t>(i * 37 % 3000)].first;
      TokenChange change;
      if (i % 2)
        change.name = "moved-" + std::to_string(i);
      else
        change.status = TokenStatus::kBlocked;
      EXPECT_TRUE(store_->ChangeToken(organization_.id, token.id, change, 100 + i, {}));
      store_->SearchTokens({.organization_id = organization_.id, .name_contains = "moved"});
    }
    done = true;
  });
  while (!done) ASSERT_TRUE(store_->RefreshSearchIndex());
  changer.join();
  for (int round = 0; round < 2; ++round) {
    for (bool descending : {false, true}) {
      TokenQuery query{.organization_id = organization_.id,
                       .order_key = descending ? TokenOrderKey::kProjectName : TokenOrderKey::kName,
                       .descending = descending};
      EXPECT_EQ(AllIds(*store_, query, SqliteStore::NameIndexUse::kAlways),
                AllIds(*store_, query, SqliteStore::NameIndexUse::kNever))
          << (round ? "ranked again" : "as ranked while changing");
    }
    ASSERT_TRUE(store_->RefreshSearchIndex());
  }
}

}  // namespace
}  // namespace gatehouse
