#include "usage/request_log.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace gatehouse {

RequestLog::RequestLog(Store& store, RequestLogOptions options)
    : store_(store), options_(options), writer_([this] { Run(); }) {}

RequestLog::~RequestLog() { Stop(); }

bool RequestLog::Append(RequestRecord record) {
  if (observer_) observer_->OnRecord(record);
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.capacity || stopping_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
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
      if (stopping_) return;
      continue;
    }
    const std::size_t take = std::min(queue_.size(), options_.max_batch);
    batch.assign(std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(take)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    lock.unlock();
    // A failed batch is retried rather than lost; the queue's capacity bounds the backlog.
    const auto started = std::chrono::steady_clock::now();
    auto stored = store_.AppendRequests(batch);
    last_flush_seconds_.store(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
        std::memory_order_relaxed);
    lock.lock();
    if (stored) {
      written_.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
      spdlog::error("request log batch of {} failed: {}", batch.size(), stored.error().internal);
      queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
      if (stopping_) return;
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    }
    batch.clear();
  }
}

}  // namespace gatehouse
