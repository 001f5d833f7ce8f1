#ifndef GATEHOUSE_USAGE_REQUEST_LOG_H_
#define GATEHOUSE_USAGE_REQUEST_LOG_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/store.h"
#include "usage/request_journal.h"

namespace gatehouse {

struct RequestLogOptions {
  std::size_t capacity = 100000;  // records in memory at most (queued or being stored); beyond
                                  // it records are dropped
  std::size_t max_batch = 8192;   // records per transaction
  std::chrono::milliseconds max_delay{50};  // a record waits at most this long for its batch
};

// Sees every record handed to a RequestLog, on the appending thread, before it is queued (also
// when the queue is full): the one place where every call's record passes, streamed or not.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void OnRecord(const RequestRecord& record) = 0;
};

// The asynchronous, batched writer of request records (DESIGN.md "RequestLog"). Append never
// blocks on the store: it queues the record; one writer thread stores queued records in
// transactions of up to max_batch rows, at least every max_delay. Stop() (and the destructor)
// writes everything still queued before returning. Thread-safe; `store` must outlive it.
//
// With a journal (OpenJournal), Append also writes the record's frame to it, so a record
// appended before a response's last byte is sent survives a kill -9 of the process: at once
// (one write()), or, on a thread that called DeferJournalOnThisThread, at that thread's next
// FlushJournal. The writer rotates the journal's segments and removes one once all its records
// are stored.
class RequestLog {
 public:
  RequestLog(Store& store, RequestLogOptions options = {});
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Stores the records an earlier process left in the journal of `directory` (the store
  // ignores ids it has already, so a replay never duplicates) and journals every later Append
  // there. Call once, before the first Append. Returns the number of records replayed.
  Result<std::size_t> OpenJournal(const std::string& directory);

  // Journals `record` (when a journal is open) and queues it; false (and the dropped counter
  // rises) when the queue is full: such a record is neither journaled nor stored. Never waits
  // for a journal write of another thread.
  bool Append(RequestRecord record);
  // From now on the calling thread's Appends leave their journal frames in a buffer of the
  // thread's own, written with one write() at its next FlushJournal(). For an event loop that
  // calls FlushJournal() before it sends any byte of an answer (HttpServer's before_send): the
  // frames of the records its callbacks appended since its last send then cost one system call,
  // and a record is still journaled before its answer leaves. A thread defers for one log at a
  // time; it must not outlive a log it defers for while it still calls FlushJournal on it.
  void DeferJournalOnThisThread();
  // Writes the journal frames the calling thread deferred, with one write(); nothing to do (no
  // lock, no system call) when there are none.
  void FlushJournal();
  // Set before the first Append; `observer` must outlive the log.
  void set_observer(RequestObserver* observer) { observer_ = observer; }
  // Stores everything queued so far and stops the writer. Idempotent.
  void Stop();

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::size_t queued() const;
  // Records whose journal write failed (each is still queued for the store).
  std::uint64_t journal_failures() const {
    return journal_failures_.load(std::memory_order_relaxed);
  }
  // True while the latest batch could not be stored (a full disk, a broken database).
  bool failing() const { return failing_.load(std::memory_order_relaxed); }
  // Duration of the most recent batch write, in seconds.
  double last_flush_seconds() const { return last_flush_seconds_.load(std::memory_order_relaxed); }

 private:
  void Run();
  // Activates a new journal segment when the old one is fully stored and the active one has
  // frames. Called by the writer with `lock` held; releases it while opening the file.
  void RotateJournal(std::unique_lock<std::mutex>& lock);
  // Writes whole frames of `records` records to the active segment (journal_mutex_ taken here).
  void WriteJournal(std::string_view frames, std::size_t records);

  // The journal frames a thread deferred (DeferJournalOnThisThread) for the log `log_serial`.
  struct DeferredFrames {
    std::uint64_t log_serial = 0;
    std::string frames;
    std::size_t records = 0;
  };
  static thread_local DeferredFrames deferred_;
  // Called by the writer with the lock held after `stored` records were committed.
  void RetireJournal(std::size_t stored);
  // Called by the writer with the lock held: stores the records of a journal replay that failed
  // at start (leftovers_), then removes their segments. False when the store still fails.
  bool StoreLeftovers(std::unique_lock<std::mutex>& lock);

  Store& store_;
  const RequestLogOptions options_;
  const std::uint64_t serial_;  // tells this log's deferred frames from another's
  RequestObserver* observer_ = nullptr;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<RequestRecord> queue_;  // guarded by mutex_; swapped out whole by the writer
  std::size_t in_flight_ = 0;  // records of the batch being stored, guarded by mutex_: a failed
                               // batch goes back to the queue, so it counts toward capacity
  bool stopping_ = false;      // guarded by mutex_
  // Lock order: mutex_ before journal_mutex_ (only the writer holds both). Appending threads
  // take them one after the other: the record is queued before its frame is written, so a
  // frame is never in a segment retired before its record is stored.
  std::mutex journal_mutex_;
  // Set once by OpenJournal (under both locks); its active segment is guarded by
  // journal_mutex_. Null without a journal.
  std::unique_ptr<RequestJournal> journal_;
  bool journal_closed_ = false;       // guarded by journal_mutex_; set by the writer at its end
  RequestJournal::Segment retiring_;  // guarded by mutex_; the former active segment
  bool rotation_failing_ = false;     // guarded by mutex_; the last rotation failed (logged)
  std::size_t retiring_records_ = 0;  // guarded by mutex_; records of retiring_ not yet stored
  // Guarded by mutex_: the records of the journal's leftover segments when their replay at
  // start failed; the writer stores them before anything else, and the log stays failing
  // (/readyz) until it has.
  std::vector<RequestRecord> leftovers_;
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> journal_failures_{0};
  std::atomic<bool> failing_{false};
  std::atomic<bool> journaled_{false};  // set once by OpenJournal
  std::atomic<double> last_flush_seconds_{0};
  std::thread writer_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_REQUEST_LOG_H_
