#include "store/postgres/pg_pool.h"

namespace gatehouse::pg {

ConnectionPool::Lease::~Lease() {
  if (pool_ && connection_) pool_->Return(std::move(connection_));
}

ConnectionPool::ConnectionPool(std::string url, std::size_t size, std::chrono::milliseconds budget)
    : url_(std::move(url)), size_(size), budget_(budget) {}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() {
  const auto deadline = std::chrono::steady_clock::now() + budget_;
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      if (connection->StillOpen()) return Lease(this, std::move(connection));
      // The server closed it while it was idle (a restart): open a fresh one instead.
      --open_;
      lock.unlock();
      connection.reset();
      lock.lock();
      continue;
    }
    if (open_ < size_) {
      const auto now = std::chrono::steady_clock::now();
      if (!available() && now - last_failed_connect_ < kRetryInterval) {
        return Fail(ErrorCode::kStoreUnavailable, {}, "the database is unreachable");
      }
      ++open_;
      lock.unlock();
      auto opened = Connection::Open(url_);
      lock.lock();
      if (opened) {
        available_.store(true, std::memory_order_relaxed);
        return Lease(this, std::move(*opened));
      }
      --open_;
      last_failed_connect_ = std::chrono::steady_clock::now();
      available_.store(false, std::memory_order_relaxed);
      returned_.notify_one();
      return std::unexpected(opened.error());
    }
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return Fail(ErrorCode::kStoreBusy, {},
                  "every database connection stayed busy past the budget");
    }
  }
}

void ConnectionPool::Return(std::unique_ptr<Connection> connection) {
  std::vector<std::unique_ptr<Connection>> dropped;
  {
    std::lock_guard lock(mutex_);
    if (connection->broken()) {
      // The database went away or restarted: the idle connections are most likely dead too.
      --open_;
      open_ -= idle_.size();
      dropped.swap(idle_);
      dropped.push_back(std::move(connection));
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  returned_.notify_all();
}

}  // namespace gatehouse::pg
