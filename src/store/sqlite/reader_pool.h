#ifndef GATEHOUSE_STORE_SQLITE_READER_POOL_H_
#define GATEHOUSE_STORE_SQLITE_READER_POOL_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/sqlite/database.h"

namespace gatehouse::sqlite {

// A few read-only connections to one WAL database, so that listings, searches and lookups run
// beside the writer connection instead of behind it: a WAL reader never waits for the writer
// and never delays it. Connections are opened on first need, at most `size` of them; a caller
// waits while all are leased. Thread-safe.
class ReaderPool {
 public:
  // A connection leased to one caller until the lease ends. Its statements are reset when
  // their borrows end, so no read transaction outlives a call.
  class Lease {
   public:
    Lease(ReaderPool* pool, std::unique_ptr<Database> db) : pool_(pool), db_(std::move(db)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (db_) pool_->Return(std::move(db_));
    }
    Database& operator*() const { return *db_; }
    Database* operator->() const { return db_.get(); }

   private:
    ReaderPool* pool_;
    std::unique_ptr<Database> db_;
  };

  ReaderPool(std::string path, int size) : path_(std::move(path)), size_(size) {}
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;

  Result<Lease> Acquire();

 private:
  void Return(std::unique_ptr<Database> db);

  const std::string path_;
  const int size_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Database>> idle_;  // guarded by mutex_
  int opened_ = 0;                               // guarded by mutex_
};

}  // namespace gatehouse::sqlite

#endif  // GATEHOUSE_STORE_SQLITE_READER_POOL_H_
