#include "usage/request_log.h"

#include <spdlog/spdlog.h>

namespace gatehouse {
namespace {

std::atomic<std::uint64_t> next_log_serial{1};
// A thread's deferred-frame buffer keeps at most this much memory between flushes.
constexpr std::size_t kDeferredBufferKeep = 256 * 1024;

}  // namespace

thread_local RequestLog::DeferredFrames RequestLog::deferred_;

RequestLog::RequestLog(Store& store, RequestLogOptions options)
    : store_(store),
      options_(options),
      serial_(next_log_serial.fetch_add(1, std::memory_order_relaxed)),
      writer_([this] { Run(); }) {}

RequestLog::~RequestLog() { Stop(); }

Result<std::size_t> RequestLog::OpenJournal(const std::string& directory) {
  auto journal = std::make_unique<RequestJournal>(directory);
  if (auto opened = journal->Open(); !opened) return std::unexpected(opened.error());
  auto left = journal->ReadLeftovers();
  if (!left) return std::unexpected(left.error());
  auto install = [&](std::vector<RequestRecord> leftovers) {
    std::lock_guard lock(mutex_);
    std::lock_guard journal_lock(journal_mutex_);
    journal_ = std::move(journal);
    journaled_.store(true);
    leftovers_ = std::move(leftovers);
  };
  for (std::size_t begin = 0; begin < left->size(); begin += options_.max_batch) {
    const auto end = std::min(left->size(), begin + options_.max_batch);
    const std::vector<RequestRecord> batch(left->begin() + static_cast<std::ptrdiff_t>(begin),
                                           left->begin() + static_cast<std::ptrdiff_t>(end));
    if (auto stored = store_.AppendRequests(batch, Store::RecordArrival::kMayRepeat); !stored) {
      // This node serves meanwhile (and /readyz tells); the writer tries the replay again, and
      // the segments stay until it succeeds (or for the next start).
      spdlog::error("cannot replay the request journal yet: {}", stored.error().internal);
      failing_.store(true, std::memory_order_relaxed);
      install(std::move(*left));
      wake_.notify_one();
      return std::size_t{0};
    }
  }
  journal->RemoveLeftovers();
  install({});
  return left->size();
}

void RequestLog::DeferJournalOnThisThread() {
  DeferredFrames& deferred = deferred_;
  if (deferred.log_serial == serial_) return;
  deferred = DeferredFrames{serial_, {}, 0};
}

bool RequestLog::Append(RequestRecord record) {
  if (observer_) observer_->OnRecord(record);
  const bool journaled = journaled_.load(std::memory_order_relaxed);
  DeferredFrames& deferred = deferred_;
  const bool defer = journaled && deferred.log_serial == serial_;
  // Encoded before the record moves into the queue, and outside the lock.
  std::string frame;
  const std::size_t mark = deferred.frames.size();
  if (defer) {
    AppendJournalFrame(deferred.frames, record);
  } else if (journaled) {
    AppendJournalFrame(frame, record);
  }
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() + in_flight_ >= options_.capacity || stopping_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      if (defer) deferred.frames.resize(mark);
      return false;
    }
    queue_.push_back(std::move(record));
    wake = queue_.size() >= options_.max_batch;
  }
  if (wake) wake_.notify_one();
  if (defer) {
    ++deferred.records;
  } else if (journaled) {
    WriteJournal(frame, 1);
  }
  return true;
}

void RequestLog::FlushJournal() {
  DeferredFrames& deferred = deferred_;
  if (deferred.records == 0 || deferred.log_serial != serial_) return;
  WriteJournal(deferred.frames, deferred.records);
  deferred.records = 0;
  if (deferred.frames.capacity() > kDeferredBufferKeep) {
    deferred.frames = std::string();
  } else {
    deferred.frames.clear();
  }
}

void RequestLog::WriteJournal(std::string_view frames, std::size_t records) {
  std::lock_guard lock(journal_mutex_);
  if (!journal_ || journal_closed_) return;
  if (!journal_->Append(frames)) journal_failures_.fetch_add(records, std::memory_order_relaxed);
}

void RequestLog::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

std::size_t RequestLog::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void RequestLog::Run() {
  std::vector<RequestRecord> batch;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, options_.max_delay,
                   [this] { return stopping_ || queue_.size() >= options_.max_batch; });
    if (!leftovers_.empty() && !StoreLeftovers(lock)) {
      if (stopping_) return;  // the segments stay for the next start
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
      continue;
    }
    if (queue_.empty()) {
      if (stopping_) {
        // Everything journaled is stored.
        if (journal_) {
          RequestJournal::Remove(std::exchange(retiring_, {}));
          std::lock_guard journal_lock(journal_mutex_);
          RequestJournal::Remove(journal_->Activate({}));
          journal_closed_ = true;
        }
        return;
      }
      continue;
    }
    RotateJournal(lock);
    if (queue_.size() <= options_.max_batch) {
      batch.swap(queue_);  // the appenders wait for no move of records; queue_ keeps a capacity
    } else {               // a backlog: the oldest max_batch records first
      const auto end = queue_.begin() + static_cast<std::ptrdiff_t>(options_.max_batch);
      batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(end));
      queue_.erase(queue_.begin(), end);
    }
    in_flight_ = batch.size();
    lock.unlock();
    // A failed batch is retried rather than lost; the queue's capacity bounds the backlog.
    const auto started = std::chrono::steady_clock::now();
    // After a failed attempt the batch begins with its records: were they stored after all?
    auto stored = store_.AppendRequests(batch, failing_.load(std::memory_order_relaxed)
                                                   ? Store::RecordArrival::kMayRepeat
                                                   : Store::RecordArrival::kFresh);
    last_flush_seconds_.store(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
        std::memory_order_relaxed);
    const std::size_t count = batch.size();
    if (stored) batch.clear();  // the records are freed outside the lock
    lock.lock();
    in_flight_ = 0;
    if (stored) {
      written_.fetch_add(count, std::memory_order_relaxed);
      failing_.store(!leftovers_.empty(), std::memory_order_relaxed);
      RetireJournal(count);
    } else {
      failing_.store(true, std::memory_order_relaxed);
      spdlog::error("request log batch of {} failed: {}", count, stored.error().internal);
      queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
      batch.clear();
      if (stopping_) return;
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    }
  }
}

void RequestLog::RotateJournal(std::unique_lock<std::mutex>& lock) {
  if (!journal_ || !retiring_.path().empty()) return;
  lock.unlock();
  bool rotate = false;
  {
    std::lock_guard journal_lock(journal_mutex_);
    rotate = journal_->needs_rotation();
  }
  if (!rotate) return lock.lock();
  auto next = journal_->OpenNext();  // only this thread changes the active segment
  RequestJournal::Segment former;
  if (next) {
    // Activated before the queue is counted below: a record queued after the count has its
    // frame in the new segment.
    std::lock_guard journal_lock(journal_mutex_);
    former = journal_->Activate(std::move(*next));
  }
  lock.lock();
  if (!next) {
    // Logged once per streak: the writer tries again before every batch.
    if (!rotation_failing_)
      spdlog::error("cannot rotate the request journal: {}", next.error().internal);
    rotation_failing_ = true;
    return;
  }
  rotation_failing_ = false;
  retiring_ = std::move(former);
  retiring_records_ = queue_.size();
  if (retiring_records_ == 0) RequestJournal::Remove(std::exchange(retiring_, {}));
}

bool RequestLog::StoreLeftovers(std::unique_lock<std::mutex>& lock) {
  std::vector<RequestRecord> left = std::move(leftovers_);
  leftovers_.clear();
  lock.unlock();
  bool stored = true;
  for (std::size_t begin = 0; stored && begin < left.size(); begin += options_.max_batch) {
    const auto end = std::min(left.size(), begin + options_.max_batch);
    const std::vector<RequestRecord> batch(left.begin() + static_cast<std::ptrdiff_t>(begin),
                                           left.begin() + static_cast<std::ptrdiff_t>(end));
    auto appended = store_.AppendRequests(batch, Store::RecordArrival::kMayRepeat);
    if (!appended) {
      spdlog::error("cannot replay the request journal yet: {}", appended.error().internal);
      stored = false;
    }
  }
  if (stored) {
    std::lock_guard journal_lock(journal_mutex_);
    journal_->RemoveLeftovers();
    spdlog::info("request journal replayed: {} records", left.size());
  }
  lock.lock();
  if (!stored) {
    leftovers_ = std::move(left);  // all of them again: kMayRepeat skips the ones stored
    failing_.store(true, std::memory_order_relaxed);
  } else if (queue_.empty()) {
    // Else the next batch tells: it may be one that failed, and must be written as kMayRepeat.
    failing_.store(false, std::memory_order_relaxed);
  }
  return stored;
}

void RequestLog::RetireJournal(std::size_t stored) {
  if (retiring_.path().empty()) return;
  retiring_records_ -= std::min(stored, retiring_records_);
  if (retiring_records_ == 0) RequestJournal::Remove(std::exchange(retiring_, {}));
}

}  // namespace gatehouse
