#include "directory/console_sign_outs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "pg_test_database.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

constexpr TimeMs kStart = 1'700'000'000'000;
constexpr TimeMs kLifetime = 3600 * 1000;

// The console_signouts table and ConsoleSignOuts over it, the same on both backends. Two
// "nodes" (ConsoleSessions with one master key and ConsoleSignOuts each) share one store.
class ConsoleSignOutsTest : public ::testing::Test {
 protected:
  // The backend under test; nullptr skips (set by the backend's fixture in SetUp).
  virtual std::unique_ptr<Store> OpenStore() = 0;

  void SetUp() override {
    store_ = OpenStore();
    if (!store_) return;
    sign_outs_a_ = std::make_unique<ConsoleSignOuts>(*store_, node_a_, clock_);
    sign_outs_b_ = std::make_unique<ConsoleSignOuts>(*store_, node_b_, clock_);
    ASSERT_TRUE(sign_outs_a_->Load());
    ASSERT_TRUE(sign_outs_b_->Load());
  }

  std::map<std::string, ConsoleSignOut> Stored(TimeMs since) {
    std::map<std::string, ConsoleSignOut> rows;
    EXPECT_TRUE(store_->ForEachConsoleSignOutSince(
        since, [&](const ConsoleSignOut& row) { rows[row.session_id] = row; }));
    return rows;
  }

  std::string Open(ConsoleSessions& node, ConsoleSession& session) {
    return node.Open("token", "org", "hash", clock_.Now(), session).value();
  }

  void StoreRecordsAddsOnceAndPrunesExpiredRows() {
    ASSERT_TRUE(
        store_->AddConsoleSignOuts({{"a", kStart + 100, kStart}, {"b", kStart + 200, kStart + 5}}));
    // A session id already stored keeps its row.
    ASSERT_TRUE(store_->AddConsoleSignOuts({{"a", kStart + 999, kStart + 50}}));
    ASSERT_TRUE(store_->AddConsoleSignOuts({}));
    auto rows = Stored(0);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows["a"].expires_at, kStart + 100);
    EXPECT_EQ(rows["a"].signed_out_at, kStart);
    EXPECT_EQ(rows["b"].expires_at, kStart + 200);
    EXPECT_EQ(rows["b"].signed_out_at, kStart + 5);
    ASSERT_TRUE(store_->PruneConsoleSignOuts(kStart + 100));
    rows = Stored(0);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_TRUE(rows.contains("b"));
  }

  void SignOutOnOneNodeIsRefusedOnTheOtherAfterItsSync() {
    ConsoleSession session;
    const std::string cookie = Open(node_a_, session);
    ASSERT_TRUE(node_b_.Find(cookie, clock_.Now()));
    ASSERT_TRUE(sign_outs_b_->SignOut(session));
    EXPECT_FALSE(node_b_.Find(cookie, clock_.Now())) << "refused at once where it was signed out";
    EXPECT_TRUE(node_a_.Find(cookie, clock_.Now())) << "node A has not synced yet";
    clock_.Advance(1000);
    ASSERT_TRUE(sign_outs_a_->Sync());
    EXPECT_FALSE(node_a_.Find(cookie, clock_.Now()));
    EXPECT_EQ(node_a_.size(), 0u) << "node A's own session is gone from its caps";
    // A node started later loads it.
    ConsoleSessions node_c(keyring_, kLifetime);
    ConsoleSignOuts sign_outs_c(*store_, node_c, clock_);
    ASSERT_TRUE(sign_outs_c.Load());
    EXPECT_FALSE(node_c.Find(cookie, clock_.Now()));
  }

  void SessionEndedByACapIsRefusedOnTheOtherNodeAfterBothSync() {
    ConsoleSessions capped(keyring_, kLifetime, ConsoleSessionLimits{1, 10, 100});
    ConsoleSignOuts capped_sign_outs(*store_, capped, clock_);
    ConsoleSession first, second;
    const std::string cookie = Open(capped, first);
    Open(capped, second);
    ASSERT_TRUE(node_b_.Find(cookie, clock_.Now()));
    ASSERT_TRUE(capped_sign_outs.Sync());
    ASSERT_TRUE(sign_outs_b_->Sync());
    EXPECT_FALSE(node_b_.Find(cookie, clock_.Now()));
  }

  void SyncReadsNewSignOutsAndForgetsExpiredOnes() {
    clock_.Advance(10'000);
    ASSERT_TRUE(sign_outs_a_->Sync());
    EXPECT_EQ(node_a_.signed_out_size(), 0u);
    ASSERT_TRUE(store_->AddConsoleSignOuts({{"new", clock_.Now() + 1000, clock_.Now()}}));
    ASSERT_TRUE(sign_outs_a_->Sync());
    EXPECT_EQ(node_a_.signed_out_size(), 1u);
    clock_.Advance(1000);
    ASSERT_TRUE(sign_outs_a_->Sync());
    EXPECT_EQ(node_a_.signed_out_size(), 0u);
  }

  // A sign-out stored with a time (the writing node's clock) a minute before the last sync.
  void StoreALateSignOut() {
    clock_.Advance(10'000);
    ASSERT_TRUE(sign_outs_a_->Sync());
    ASSERT_TRUE(store_->AddConsoleSignOuts({{"late", kStart + kLifetime, kStart - 60'000}}));
    ASSERT_TRUE(sign_outs_a_->Sync());
  }

  Keyring keyring_{Keyring::Key{3}};
  ManualClock clock_{kStart};
  ConsoleSessions node_a_{keyring_, kLifetime};
  ConsoleSessions node_b_{keyring_, kLifetime};
  std::unique_ptr<Store> store_;
  std::unique_ptr<ConsoleSignOuts> sign_outs_a_;
  std::unique_ptr<ConsoleSignOuts> sign_outs_b_;
};

class SqliteConsoleSignOutsTest : public ConsoleSignOutsTest {
 protected:
  std::unique_ptr<Store> OpenStore() override {
    return std::make_unique<SqliteStore>(dir_.File("test.db").string());
  }
  void TearDown() override {
    sign_outs_a_.reset();
    sign_outs_b_.reset();
    store_.reset();
  }

  TempDir dir_;
};

TEST_F(SqliteConsoleSignOutsTest, StoreRecordsASignOutOnceAndPrunesExpiredRows) {
  StoreRecordsAddsOnceAndPrunesExpiredRows();
}
TEST_F(SqliteConsoleSignOutsTest, SignOutOnOneNodeIsRefusedOnTheOtherAfterItsSync) {
  SignOutOnOneNodeIsRefusedOnTheOtherAfterItsSync();
}
TEST_F(SqliteConsoleSignOutsTest, SessionEndedByACapIsRefusedOnTheOtherNode) {
  SessionEndedByACapIsRefusedOnTheOtherNodeAfterBothSync();
}
TEST_F(SqliteConsoleSignOutsTest, SyncReadsNewSignOutsAndForgetsExpiredOnes) {
  SyncReadsNewSignOutsAndForgetsExpiredOnes();
}
// On SQLite every writer shares one clock: a sync reads only what was stored since the last one
// (less a few seconds).
TEST_F(SqliteConsoleSignOutsTest, SyncDoesNotReadSignOutsStoredBeforeTheLastSync) {
  StoreALateSignOut();
  EXPECT_EQ(node_a_.signed_out_size(), 0u);
}

class PgConsoleSignOutsTest : public ConsoleSignOutsTest {
 protected:
  std::unique_ptr<Store> OpenStore() override {
    if (!db_.available()) return nullptr;
    return std::make_unique<PgStore>(PgStore::Options{.url = db_.url()});
  }
  void SetUp() override {
    if (!db_.available()) GTEST_SKIP() << db_.skip_reason();
    ConsoleSignOutsTest::SetUp();
  }
  void TearDown() override {
    sign_outs_a_.reset();
    sign_outs_b_.reset();
    store_.reset();
  }

  PgTestDatabase db_;
};

TEST_F(PgConsoleSignOutsTest, StoreRecordsASignOutOnceAndPrunesExpiredRows) {
  StoreRecordsAddsOnceAndPrunesExpiredRows();
}
TEST_F(PgConsoleSignOutsTest, SignOutOnOneNodeIsRefusedOnTheOtherAfterItsSync) {
  SignOutOnOneNodeIsRefusedOnTheOtherAfterItsSync();
}
TEST_F(PgConsoleSignOutsTest, SessionEndedByACapIsRefusedOnTheOtherNode) {
  SessionEndedByACapIsRefusedOnTheOtherNodeAfterBothSync();
}
TEST_F(PgConsoleSignOutsTest, SyncReadsNewSignOutsAndForgetsExpiredOnes) {
  SyncReadsNewSignOutsAndForgetsExpiredOnes();
}
// Nodes' clocks differ: a sync also reads what the database stored since the last one, whatever
// time the writing node gave.
TEST_F(PgConsoleSignOutsTest, SignOutOfANodeWhoseClockIsBehindIsStillRead) {
  StoreALateSignOut();
  EXPECT_EQ(node_a_.signed_out_size(), 1u);
}

// A node whose clock runs a minute ahead of the others still reads what they store: its marks
// are the database's clock, not its own.
TEST_F(PgConsoleSignOutsTest, ANodeWhoseClockIsAheadStillReadsTheOthersSignOuts) {
  const TimeMs wall = SystemClock().Now();
  ManualClock ahead(wall + 60'000);
  ConsoleSessions node(keyring_, kLifetime);
  ConsoleSignOuts sign_outs(*store_, node, ahead);
  ASSERT_TRUE(sign_outs.Load());
  ahead.Advance(1000);
  ASSERT_TRUE(sign_outs.Sync());
  // Stored by a node on time, after the ahead node's last sync.
  ASSERT_TRUE(store_->AddConsoleSignOuts({{"elsewhere", wall + kLifetime, SystemClock().Now()}}));
  ahead.Advance(1000);
  ASSERT_TRUE(sign_outs.Sync());
  EXPECT_EQ(node.signed_out_size(), 1u);
}

// Another node hears of a sign-out at once: the store wakes every watcher at its commit.
TEST_F(PgConsoleSignOutsTest, ASignOutWakesTheOtherNodesWatchers) {
  PgStore other(PgStore::Options{.url = db_.url()});
  std::atomic<int> woken = 0;
  other.WatchChanges([&](StoreChange) { ++woken; });
  // The first report comes when the watcher's LISTEN is in place.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (woken == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(woken.load(), 0);
  const int before = woken;
  ASSERT_TRUE(store_->AddConsoleSignOuts({{"s", kStart + kLifetime, kStart}}));
  while (woken == before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(woken.load(), before);
  other.WatchChanges(nullptr);
}

}  // namespace
}  // namespace gatehouse
