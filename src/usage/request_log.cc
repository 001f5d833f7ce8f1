#include "usage/request_log.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace gatehouse {

RequestLog::RequestLog(Store& store, RequestLogOptions options)
    : store_(store), options_(options), writer_([this] { Run(); }) {}

RequestLog::~RequestLog() { Stop(); }

Result<std::size_t> RequestLog::OpenJournal(const std::string& directory) {
  auto journal = std::make_unique<RequestJournal>(directory);
  if (auto opened = journal->Open(); !opened) return std::unexpected(opened.error());
  auto left = journal->ReadLeftovers();
  if (!left) return std::unexpected(left.error());
  for (std::size_t begin = 0; begin < left->size(); begin += options_.max_batch) {
    const auto end = std::min(left->size(), begin + options_.max_batch);
    const std::vector<RequestRecord> batch(left->begin() + static_cast<std::ptrdiff_t>(begin),
                                           left->begin() + static_cast<std::ptrdiff_t>(end));
    if (auto stored = store_.AppendRequests(batch); !stored) {
      // The segments stay for the next start; this one serves (and /readyz tells).
      spdlog::error("cannot replay the request journal: {}", stored.error().internal);
      failing_.store(true, std::memory_order_relaxed);
      std::lock_guard lock(mutex_);
      journal_ = std::move(journal);
      journaled_.store(true);
      return std::size_t{0};
    }
  }
  journal->RemoveLeftovers();
  std::lock_guard lock(mutex_);
  journal_ = std::move(journal);
  journaled_.store(true);
  return left->size();
}

bool RequestLog::Append(RequestRecord record) {
  if (observer_) observer_->OnRecord(record);
  const std::string frame =
      journaled_.load(std::memory_order_relaxed) ? EncodeJournalFrame(record) : std::string();
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() + in_flight_ >= options_.capacity || stopping_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (journal_ && !journal_->Append(frame)) {
      journal_failures_.fetch_add(1, std::memory_order_relaxed);
    }
    queue_.push_back(std::move(record));
    if (queue_.size() < options_.max_batch) return true;
  }
  wake_.notify_one();
  return true;
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
    if (queue_.empty()) {
      if (stopping_) {
        // Everything journaled is stored.
        if (journal_) {
          RequestJournal::Remove(std::exchange(retiring_, {}));
          RequestJournal::Remove(journal_->Activate({}));
        }
        return;
      }
      continue;
    }
    RotateJournal(lock);
    const std::size_t take = std::min(queue_.size(), options_.max_batch);
    batch.assign(std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(take)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    in_flight_ = take;
    lock.unlock();
    // A failed batch is retried rather than lost; the queue's capacity bounds the backlog.
    const auto started = std::chrono::steady_clock::now();
    auto stored = store_.AppendRequests(batch);
    last_flush_seconds_.store(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
        std::memory_order_relaxed);
    lock.lock();
    in_flight_ = 0;
    if (stored) {
      written_.fetch_add(batch.size(), std::memory_order_relaxed);
      failing_.store(false, std::memory_order_relaxed);
      RetireJournal(batch.size());
    } else {
      failing_.store(true, std::memory_order_relaxed);
      spdlog::error("request log batch of {} failed: {}", batch.size(), stored.error().internal);
      queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
      if (stopping_) return;
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    }
    batch.clear();
  }
}

void RequestLog::RotateJournal(std::unique_lock<std::mutex>& lock) {
  if (!journal_ || !retiring_.path().empty() || !journal_->needs_rotation()) return;
  lock.unlock();
  auto next = journal_->OpenNext();  // only this thread changes the active segment
  lock.lock();
  if (!next) {
    // Logged once per streak: the writer tries again before every batch.
    if (!rotation_failing_)
      spdlog::error("cannot rotate the request journal: {}", next.error().internal);
    rotation_failing_ = true;
    return;
  }
  rotation_failing_ = false;
  retiring_ = journal_->Activate(std::move(*next));
  retiring_records_ = queue_.size();
  if (retiring_records_ == 0) RequestJournal::Remove(std::exchange(retiring_, {}));
}

void RequestLog::RetireJournal(std::size_t stored) {
  if (retiring_.path().empty()) return;
  retiring_records_ -= std::min(stored, retiring_records_);
  if (retiring_records_ == 0) RequestJournal::Remove(std::exchange(retiring_, {}));
}

}  // namespace gatehouse
