#ifndef GATEHOUSE_STORE_POSTGRES_PG_POOL_H_
#define GATEHOUSE_STORE_POSTGRES_PG_POOL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/postgres/pg_connection.h"

namespace gatehouse::pg {

// A bounded set of connections to one database, opened lazily and reused. A caller leases one
// for one store call on a thread that may block (never an event loop). When the database
// cannot be reached, leases fail at once with kStoreUnavailable instead of each caller waiting
// out a connect timeout; one caller at a time tries again, at most every kRetryInterval.
class ConnectionPool {
 public:
  static constexpr std::chrono::milliseconds kRetryInterval{500};

  // A leased connection, given back (or dropped when it broke) on destruction.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  ConnectionPool(std::string url, std::size_t size, std::chrono::milliseconds budget);

  // A connection, waiting up to the budget for one to be given back (else kStoreBusy).
  Result<Lease> Acquire();
  // False from a failed connect until the next successful one.
  bool available() const { return available_.load(std::memory_order_relaxed); }
  const std::string& url() const { return url_; }

 private:
  void Return(std::unique_ptr<Connection> connection);

  const std::string url_;
  const std::size_t size_;
  const std::chrono::milliseconds budget_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mutex_
  std::size_t open_ = 0;                           // leased + idle + being opened; likewise
  std::chrono::steady_clock::time_point last_failed_connect_{};  // likewise
  std::atomic<bool> available_{true};
};

}  // namespace gatehouse::pg

#endif  // GATEHOUSE_STORE_POSTGRES_PG_POOL_H_
