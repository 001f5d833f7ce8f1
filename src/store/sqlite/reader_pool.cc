#include "store/sqlite/reader_pool.h"

namespace gatehouse::sqlite {

Result<ReaderPool::Lease> ReaderPool::Acquire() {
  std::unique_lock lock(mutex_);
  returned_.wait(lock, [this] { return !idle_.empty() || opened_ < size_; });
  if (!idle_.empty()) {
    auto db = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(db));
  }
  ++opened_;
  lock.unlock();
  auto db = std::make_unique<Database>();
  if (auto opened = db->OpenReadOnly(path_); !opened) {
    lock.lock();
    --opened_;
    returned_.notify_one();
    return std::unexpected(opened.error());
  }
  return Lease(this, std::move(db));
}

void ReaderPool::Return(std::unique_ptr<Database> db) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(db));
  returned_.notify_one();
}

}  // namespace gatehouse::sqlite
