#ifndef GATEHOUSE_USAGE_REQUEST_LOG_H_
#define GATEHOUSE_USAGE_REQUEST_LOG_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include "store/store.h"

namespace gatehouse {

struct RequestLogOptions {
  std::size_t capacity = 100000;            // records queued at most; beyond it records are dropped
  std::size_t max_batch = 2000;             // records per transaction
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
class RequestLog {
 public:
  RequestLog(Store& store, RequestLogOptions options = {});
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Queues `record`; false (and the dropped counter rises) when the queue is full.
  bool Append(RequestRecord record);
  // Set before the first Append; `observer` must outlive the log.
  void set_observer(RequestObserver* observer) { observer_ = observer; }
  // Stores everything queued so far and stops the writer. Idempotent.
  void Stop();

  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::size_t queued() const;
  // Duration of the most recent batch write, in seconds.
  double last_flush_seconds() const { return last_flush_seconds_.load(std::memory_order_relaxed); }

 private:
  void Run();

  Store& store_;
  const RequestLogOptions options_;
  RequestObserver* observer_ = nullptr;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<RequestRecord> queue_;  // guarded by mutex_
  bool stopping_ = false;            // guarded by mutex_
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<double> last_flush_seconds_{0};
  std::thread writer_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_REQUEST_LOG_H_
