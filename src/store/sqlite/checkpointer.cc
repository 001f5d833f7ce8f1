#include "store/sqlite/checkpointer.h"

namespace gatehouse::sqlite {

Checkpointer::Checkpointer(const std::string& path, sqlite3* writer, Options options)
    : options_(options), writer_(writer) {
  db_.Open(path);
  // Replaces the automatic checkpoint, which is itself a commit hook of the writer's.
  sqlite3_wal_hook(writer_, &Checkpointer::OnCommit, this);
  thread_ = std::thread([this] { Run(); });
}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  sqlite3_wal_hook(writer_, nullptr, nullptr);
}

int Checkpointer::OnCommit(void* self, sqlite3* db, const char* schema, int frames) {
  auto& checkpointer = *static_cast<Checkpointer*>(self);
  // Frames not yet copied back. A WAL shorter than what was copied has restarted from its
  // beginning since.
  const int copied = checkpointer.copied_.load(std::memory_order_relaxed);
  const int pending = frames >= copied ? frames - copied : frames;
  if (frames >= checkpointer.options_.stall_frames) {
    // Passive too: the writer waits for no reader, it only copies what it can. Once all is
    // copied, the next write starts the WAL over.
    int done = 0;
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, &done);
    checkpointer.copied_.store(done, std::memory_order_relaxed);
    checkpointer.writer_runs_.fetch_add(1, std::memory_order_relaxed);
  } else if (pending >= checkpointer.options_.wake_frames) {
    {
      std::lock_guard lock(checkpointer.mutex_);
      if (checkpointer.due_) return SQLITE_OK;
      checkpointer.due_ = true;
    }
    checkpointer.wake_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return due_ || stopping_; });
    if (stopping_) return;
    due_ = false;  // a commit during this checkpoint asks for the next one
    lock.unlock();
    int log = 0;
    int copied = 0;
    const int rc =
        sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc == SQLITE_OK) copied_.store(copied, std::memory_order_relaxed);
    // BUSY: another connection was checkpointing (the writer past stall_frames, or another
    // process); the next commit asks again. Anything else leaves the WAL to the writer's own
    // checkpoint at stall_frames.
    (rc == SQLITE_OK || rc == SQLITE_BUSY ? background_runs_ : failed_runs_)
        .fetch_add(1, std::memory_order_relaxed);
    lock.lock();
  }
}

}  // namespace gatehouse::sqlite
