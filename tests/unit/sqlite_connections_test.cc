// SqliteStore's connection model: reads beside the writer, writes bounded by a budget.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <vector>

#include "core/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

using std::chrono::steady_clock;

class SqliteConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gatehouse-connections-" + std::to_string(::getpid()) + "-" + NewUuid());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "test.db").string();
    store_ = std::make_unique<SqliteStore>(path_);
    organization_ = Organization{NewUuid(), "Acme", "", 1};
    ASSERT_TRUE(store_->CreateOrganization(organization_, Token("Owner"), Credential()));
    ASSERT_TRUE(store_->InsertToken(Token("Second"), Credential()));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  ApiToken Token(const std::string& name) {
    ApiToken token;
    token.id = NewUuid();
    token.organization_id = organization_.id;
    token.scope = TokenScope::kOrganization;
    token.name = name;
    token.created_at = token.updated_at = 1;
    token.secret_prefix = "gto_abcd";
    return token;
  }
  TokenCredential Credential() { return TokenCredential{NewUuid(), {}, {}, {}}; }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
  Organization organization_;
};

// A reader stopped in the middle of its rows (an open read transaction on a pooled
// connection) does not delay writes: they commit while it waits.
TEST_F(SqliteConnectionsTest, ASlowReaderDoesNotDelayWrites) {
  std::promise<void> reading, release;
  auto released = release.get_future().share();
  auto reader = std::async(std::launch::async, [&] {
    bool first = true;
    return store_->ForEachTokenChangedSince(0, [&](const ApiToken&, const TokenCredential&) {
      if (!first) return;
      first = false;
      reading.set_value();
      released.wait();
    });
  });
  reading.get_future().wait();

  std::vector<ApiToken> tokens;
  for (int i = 0; i < 20; ++i) tokens.push_back(Token("write-" + std::to_string(i)));
  auto writes = std::async(std::launch::async, [&] {
    for (const auto& token : tokens) {
      if (!store_->InsertToken(token, Credential())) return false;
    }
    return store_->FindToken(organization_.id, tokens.back().id).has_value();
  });
  // Writes that queued behind the reader would still be waiting when it is released.
  const bool done_while_reading =
      writes.wait_for(std::chrono::milliseconds(5000)) == std::future_status::ready;
  release.set_value();
  EXPECT_TRUE(reader.get());
  EXPECT_TRUE(done_while_reading);
  EXPECT_TRUE(writes.get());
  auto page = store_->SearchTokens(TokenQuery{.organization_id = organization_.id});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->count, 22);
}

// Another process holding SQLite's write lock makes a write fail with 503 after the write
// budget instead of waiting on (or failing with 500); reads go on meanwhile.
TEST_F(SqliteConnectionsTest, AWriteThatWaitsPastItsBudgetIsBusyNotInternal) {
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  const auto started = steady_clock::now();
  auto read = store_->SearchTokens(TokenQuery{.organization_id = organization_.id});
  EXPECT_TRUE(read);
  EXPECT_LT(steady_clock::now() - started, std::chrono::milliseconds(1500));

  auto refused = store_->InsertToken(Token("late"), Credential());
  const auto waited = steady_clock::now() - started;
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kStoreBusy);
  EXPECT_EQ(HttpStatusOf(refused.error().code()), 503);
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_LT(waited, std::chrono::milliseconds(10000));

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(store_->InsertToken(Token("late"), Credential()));
}

// Group commit: concurrent inserts share transactions, yet each caller gets its own outcome
// and every acknowledged token is stored.
TEST_F(SqliteConnectionsTest, ConcurrentInsertsEachGetTheirOwnOutcome) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 40;
  std::vector<std::vector<ApiToken>> tokens(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      // Every thread's first token has the same name: exactly one of them may be stored.
      tokens[t].push_back(Token(i == 0 ? std::string("shared")
                                       : "t" + std::to_string(t) + "-" + std::to_string(i)));
    }
  }
  std::vector<std::future<std::vector<Status>>> results;
  for (int t = 0; t < kThreads; ++t) {
    results.push_back(std::async(std::launch::async, [&, t] {
      std::vector<Status> outcomes;
      for (const auto& token : tokens[t])
        outcomes.push_back(store_->InsertToken(token, Credential()));
      return outcomes;
    }));
  }
  int shared_stored = 0;
  for (int t = 0; t < kThreads; ++t) {
    auto outcomes = results[t].get();
    for (int i = 0; i < kPerThread; ++i) {
      const bool stored = store_->FindToken(organization_.id, tokens[t][i].id)->has_value();
      EXPECT_EQ(outcomes[i].has_value(), stored);
      if (i == 0) {
        shared_stored += stored;
        if (!stored) {
          EXPECT_EQ(outcomes[i].error().code(), ErrorCode::kTokenNameExists);
        }
      } else {
        EXPECT_TRUE(stored);
      }
    }
  }
  EXPECT_EQ(shared_stored, 1);
}

}  // namespace
}  // namespace gatehouse
