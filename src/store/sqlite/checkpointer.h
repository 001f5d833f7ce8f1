#ifndef GATEHOUSE_STORE_SQLITE_CHECKPOINTER_H_
#define GATEHOUSE_STORE_SQLITE_CHECKPOINTER_H_

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "store/sqlite/database.h"

namespace gatehouse::sqlite {

// Copies committed WAL frames back into the database file on a thread and connection of its
// own, so that the writer never pays for a checkpoint (and the fsync that ends it) inside a
// write: with SQLite's automatic checkpoint, every thousandth page committed stalled the writer,
// and every write queued behind it, for as long as the checkpoint took.
//
// The writer's commits report the WAL's length through a hook; once `wake_frames` frames have
// been committed since the last copy, the checkpointer runs a passive checkpoint, which waits
// for no reader and no writer. A WAL starts over only at a write that finds every frame copied,
// which a writer that never pauses seldom does; so when the WAL reaches `stall_frames` the
// committing writer checkpoints itself, as SQLite would, copying what the thread has not (a
// small remainder, usually) so that the next write starts the WAL over and it stays bounded.
class Checkpointer {
 public:
  struct Options {
    // 16 MiB of 4 KiB pages. A checkpoint copies a page once however many commits wrote it
    // to the WAL since the last one, and a token creation's commits rewrite the same index
    // leaves again and again: fewer, longer checkpoints copy fewer pages (and sync less).
    int wake_frames = 4000;
    int stall_frames = 16000;  // 64 MiB of 4 KiB pages
  };

  // Installs the hook on `writer` (an open WAL connection to `path`, used under its owner's
  // lock) and starts the thread. `writer` must outlive this object.
  Checkpointer(const std::string& path, sqlite3* writer, Options options);
  Checkpointer(const std::string& path, sqlite3* writer) : Checkpointer(path, writer, Options{}) {}
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Checkpoints run by the thread, and those the writer had to run itself.
  std::uint64_t background_runs() const { return background_runs_.load(); }
  std::uint64_t writer_runs() const { return writer_runs_.load(); }
  std::uint64_t failed_runs() const { return failed_runs_.load(); }

 private:
  static int OnCommit(void* self, sqlite3* db, const char* schema, int frames);
  void Run();

  const Options options_;
  sqlite3* const writer_;
  Database db_;  // the checkpointer's own connection; used only by thread_
  std::mutex mutex_;
  std::condition_variable wake_;
  bool due_ = false;            // guarded by mutex_
  bool stopping_ = false;       // guarded by mutex_
  std::atomic<int> copied_{0};  // frames of the WAL copied back by the last checkpoint
  std::atomic<std::uint64_t> background_runs_{0};
  std::atomic<std::uint64_t> writer_runs_{0};
  std::atomic<std::uint64_t> failed_runs_{0};
  std::thread thread_;
};

}  // namespace gatehouse::sqlite

#endif  // GATEHOUSE_STORE_SQLITE_CHECKPOINTER_H_
