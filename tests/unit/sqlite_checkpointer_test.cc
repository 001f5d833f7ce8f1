// The background WAL checkpointer: commits past the threshold are copied back into the database
// file by its own thread, not by the writer, and a writer past the stall limit copies them
// itself so that the WAL stays bounded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "core/ids.h"
#include "store/sqlite/checkpointer.h"

namespace gatehouse::sqlite {
namespace {

class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gatehouse-checkpointer-" + std::to_string(::getpid()) + "-" + NewUuid());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "test.db").string();
    writer_.Open(path_);
    ASSERT_TRUE(writer_.Execute("CREATE TABLE pages (body BLOB NOT NULL)"));
    database_bytes_ = std::filesystem::file_size(path_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `commits` transactions of about one page each.
  void Write(int commits) {
    for (int i = 0; i < commits; ++i) {
      ASSERT_TRUE(writer_.Execute("INSERT INTO pages VALUES (zeroblob(3000))"));
    }
  }

  bool Eventually(const auto& condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  std::filesystem::path dir_;
  std::string path_;
  Database writer_;
  std::uintmax_t database_bytes_ = 0;
};

TEST_F(CheckpointerTest, CommitsPastTheThresholdAreCopiedBackByItsOwnThread) {
  Checkpointer checkpointer(path_, writer_.handle(), {.wake_frames = 20, .stall_frames = 1 << 30});
  Write(100);
  EXPECT_TRUE(Eventually([&] { return checkpointer.background_runs() > 0; }));
  // The pages reached the database file, and the writer never checkpointed.
  EXPECT_TRUE(Eventually([&] { return std::filesystem::file_size(path_) > database_bytes_; }));
  EXPECT_EQ(checkpointer.writer_runs(), 0u);
  EXPECT_EQ(checkpointer.failed_runs(), 0u);
}

TEST_F(CheckpointerTest, BelowTheThresholdNothingIsCopied) {
  Checkpointer checkpointer(path_, writer_.handle(), {.wake_frames = 1000, .stall_frames = 2000});
  Write(50);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(checkpointer.background_runs(), 0u);
  EXPECT_EQ(checkpointer.writer_runs(), 0u);
  EXPECT_EQ(std::filesystem::file_size(path_), database_bytes_);
}

TEST_F(CheckpointerTest, AWriterPastTheStallLimitCopiesTheWalItself) {
  // A thread that never wakes (threshold out of reach) stands for one that cannot keep up.
  Checkpointer checkpointer(path_, writer_.handle(), {.wake_frames = 1 << 30, .stall_frames = 30});
  Write(100);
  EXPECT_GT(checkpointer.writer_runs(), 0u);
  EXPECT_EQ(checkpointer.background_runs(), 0u);
  EXPECT_GT(std::filesystem::file_size(path_), database_bytes_);
}

TEST_F(CheckpointerTest, StopsCleanlyWithWorkPending) {
  {
    Checkpointer checkpointer(path_, writer_.handle(), {.wake_frames = 1, .stall_frames = 1 << 30});
    Write(10);
  }
  // The hook is gone: commits after it leave the WAL alone and do not touch freed memory.
  Write(10);
}

}  // namespace
}  // namespace gatehouse::sqlite
