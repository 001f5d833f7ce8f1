#ifndef GATEHOUSE_AUTH_HASH_INDEX_H_
#define GATEHOUSE_AUTH_HASH_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gatehouse {

// An open-addressing hash index (linear probing) from keys to 32-bit references into storage
// that its owner keeps; the owner hashes keys to 32 bits and compares them. An entry is the
// reference and the key's hash (8 bytes), so a probe compares hashes before it looks at a key,
// and growing never reads a key. At most 70 % full; capacity is a power of two.
// Not thread-safe: the owner locks. References kEmpty and kErased are reserved.
class HashIndex {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFF;

  // Makes room for `count` references without growing.
  void Reserve(std::size_t count);

  // The reference stored under `hash` for which `matches(reference)` holds; kNone if none.
  template <class Matches>
  std::uint32_t Find(std::uint32_t hash, Matches matches) const {
    if (entries_.empty()) return kNone;
    const std::size_t mask = entries_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Entry& entry = entries_[i];
      if (entry.reference == kEmpty) return kNone;
      if (entry.hash == hash && entry.reference != kErased && matches(entry.reference)) {
        return entry.reference;
      }
    }
  }

  // Stores `reference` under `hash`, replacing the reference for which `matches` holds if
  // there is one. Returns the replaced reference, or kNone.
  template <class Matches>
  std::uint32_t Insert(std::uint32_t hash, std::uint32_t reference, Matches matches) {
    if ((size_ + erased_ + 1) * 10 > entries_.size() * 7) Grow();
    const std::size_t mask = entries_.size() - 1;
    std::size_t free = entries_.size();
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      Entry& entry = entries_[i];
      if (entry.reference == kEmpty) {
        if (free == entries_.size()) free = i;
        break;
      }
      if (entry.reference == kErased) {
        if (free == entries_.size()) free = i;
      } else if (entry.hash == hash && matches(entry.reference)) {
        const std::uint32_t replaced = entry.reference;
        entry.reference = reference;
        return replaced;
      }
    }
    if (entries_[free].reference == kErased) --erased_;
    entries_[free] = Entry{reference, hash};
    ++size_;
    return kNone;
  }

  // Removes `reference`, stored under `hash`; false when it is not there.
  bool Erase(std::uint32_t hash, std::uint32_t reference);

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return entries_.size(); }

 private:
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFF;
  static constexpr std::uint32_t kErased = 0xFFFFFFFE;
  struct Entry {
    std::uint32_t reference = kEmpty;
    std::uint32_t hash = 0;
  };

  // Rebuilds with room for twice the references (or the same room, dropping erased entries).
  void Grow();
  void Rebuild(std::size_t capacity);

  std::vector<Entry> entries_;  // a power of two in size, or empty
  std::size_t size_ = 0;
  std::size_t erased_ = 0;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_HASH_INDEX_H_
