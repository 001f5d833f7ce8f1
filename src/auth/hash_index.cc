#include "auth/hash_index.h"

#include <algorithm>
#include <bit>

namespace gatehouse {

void HashIndex::Reserve(std::size_t count) {
  std::size_t capacity = std::bit_ceil(std::max<std::size_t>(16, count * 10 / 7 + 1));
  if (capacity > entries_.size()) Rebuild(capacity);
}

bool HashIndex::Erase(std::uint32_t hash, std::uint32_t reference) {
  if (entries_.empty()) return false;
  const std::size_t mask = entries_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    Entry& entry = entries_[i];
    if (entry.reference == kEmpty) return false;
    if (entry.reference == reference && entry.hash == hash) {
      entry.reference = kErased;
      --size_;
      ++erased_;
      return true;
    }
  }
}

void HashIndex::Grow() {
  // Mostly erased entries: the same room, cleaned; otherwise twice the room.
  const bool crowded = (size_ + 1) * 10 > entries_.size() * 7 / 2;
  Rebuild(entries_.empty() ? 16 : crowded ? entries_.size() * 2 : entries_.size());
}

void HashIndex::Rebuild(std::size_t capacity) {
  std::vector<Entry> old(capacity);
  old.swap(entries_);
  const std::size_t mask = capacity - 1;
  for (const Entry& entry : old) {
    if (entry.reference == kEmpty || entry.reference == kErased) continue;
    std::size_t i = entry.hash & mask;
    while (entries_[i].reference != kEmpty) i = (i + 1) & mask;
    entries_[i] = entry;
  }
  erased_ = 0;
}

}  // namespace gatehouse
