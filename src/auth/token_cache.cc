#include "auth/token_cache.h"

#include <algorithm>
#include <cstring>

namespace gatehouse {
namespace {

constexpr std::uint32_t kChunkShift = 16;
constexpr std::uint32_t kChunkRecords = 1u << kChunkShift;
constexpr std::uint32_t kArenaShift = 20;
constexpr std::uint32_t kArenaChunk = 1u << kArenaShift;
constexpr std::uint32_t kPreviousBit = 0x80000000u;

// Record::usage: generation (19 bits) | dirty (1 bit) | last use in ms (44 bits, until 2527).
constexpr int kTimeBits = 44;
constexpr std::uint64_t kTimeMask = (std::uint64_t{1} << kTimeBits) - 1;
constexpr std::uint64_t kDirty = std::uint64_t{1} << kTimeBits;
constexpr int kGenerationShift = kTimeBits + 1;

std::uint32_t GenerationOf(std::uint64_t usage) {
  return static_cast<std::uint32_t>(usage >> kGenerationShift);
}
TimeMs TimeOf(std::uint64_t usage) { return static_cast<TimeMs>(usage & kTimeMask); }
std::uint64_t Usage(std::uint32_t generation, bool dirty, TimeMs at) {
  const std::uint64_t time = static_cast<std::uint64_t>(std::clamp<TimeMs>(at, 0, kTimeMask));
  return (std::uint64_t{generation} << kGenerationShift) | (dirty ? kDirty : 0) | time;
}

enum RecordFlags : std::uint8_t {
  kTextId = 1,    // the id is not a UUID: Record::id holds its arena offset and size
  kExpires = 2,   // Record::expires_at is set
  kPrevious = 4,  // a rotated-out secret is in previous_
  kExtras = 8,    // a rate limit or permissions are in extras_
};

using Hash32 = std::array<unsigned char, 32>;
using Uuid = std::array<unsigned char, 16>;

std::uint32_t Mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return static_cast<std::uint32_t>(h);
}

template <std::size_t N>
std::uint32_t HashOf(const std::array<unsigned char, N>& bytes) {
  std::uint64_t h = N;
  for (std::size_t i = 0; i < N; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = (h ^ word) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  return Mix(h);
}

std::uint32_t HashOf(std::string_view text) {
  return Mix(std::hash<std::string_view>{}(text) ^ 0x5bd1e995ULL);
}

// Zero-padded to 32 bytes; callers refuse longer ones.
Hash32 PaddedHash(std::string_view hash) {
  Hash32 key{};
  std::memcpy(key.data(), hash.data(), std::min(hash.size(), key.size()));
  return key;
}

// Where the 16 bytes' hex pairs start in the 36-character text form.
constexpr std::array<std::uint8_t, 16> kUuidPairs = {0,  2,  4,  6,  9,  11, 14, 16,
                                                     19, 21, 24, 26, 28, 30, 32, 34};

constexpr std::array<std::int8_t, 256> kHexValues = [] {
  std::array<std::int8_t, 256> values{};
  values.fill(-1);
  for (int c = '0'; c <= '9'; ++c) values[c] = static_cast<std::int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) values[c] = static_cast<std::int8_t>(c - 'a' + 10);
  return values;
}();

// Only the canonical lower-case form, so that formatting gives back the same text.
bool ParseUuid(std::string_view text, Uuid& out) {
  if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
      text[23] != '-') {
    return false;
  }
  int invalid = 0;
  for (std::size_t byte = 0; byte < 16; ++byte) {
    const int high = kHexValues[static_cast<unsigned char>(text[kUuidPairs[byte]])];
    const int low = kHexValues[static_cast<unsigned char>(text[kUuidPairs[byte] + 1])];
    invalid |= high | low;
    out[byte] = static_cast<unsigned char>(high << 4 | low);
  }
  return invalid >= 0;
}

void FormatUuid(const Uuid& bytes, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out[8] = out[13] = out[18] = out[23] = '-';
  for (std::size_t byte = 0; byte < 16; ++byte) {
    out[kUuidPairs[byte]] = kDigits[bytes[byte] >> 4];
    out[kUuidPairs[byte] + 1] = kDigits[bytes[byte] & 15];
  }
}

}  // namespace

// 88 bytes; fields other than usage change only under the exclusive lock.
struct TokenCache::Record {
  Hash32 hash{};  // the current secret's lookup hash, zero-padded
  Uuid id{};      // with kTextId: arena offset and size (4 bytes each)
  mutable std::atomic<std::uint64_t> usage{0};
  TimeMs expires_at = 0;
  std::uint32_t organization = 0;  // index in owner_ids_
  std::uint32_t project = 0;       // index in owner_ids_ (the empty id for organization tokens)
  std::uint32_t name_offset = 0;   // in the arena
  std::uint32_t name_size = 0;
  std::uint8_t scope = 0;   // TokenScope
  std::uint8_t status = 0;  // TokenStatus
  std::uint8_t flags = 0;
};

TokenCache::TokenCache() = default;
TokenCache::~TokenCache() = default;

TokenCache::Record& TokenCache::RecordAt(std::uint32_t slot) const {
  static_assert(sizeof(Record) == 88);
  return chunks_[slot >> kChunkShift][slot & (kChunkRecords - 1)];
}

std::uint32_t TokenCache::NewSlotLocked() {
  if (!free_slots_.empty()) {
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  if (slots_used_ % kChunkRecords == 0)
    chunks_.push_back(std::make_unique<Record[]>(kChunkRecords));
  return slots_used_++;
}

std::string_view TokenCache::TextIdOf(const Record& record) const {
  std::uint32_t offset, size;
  std::memcpy(&offset, record.id.data(), 4);
  std::memcpy(&size, record.id.data() + 4, 4);
  return ArenaText(offset, size);
}

std::uint32_t TokenCache::IdHashOf(const Record& record) const {
  return record.flags & kTextId ? HashOf(TextIdOf(record)) : HashOf(record.id);
}

std::uint32_t TokenCache::FindSlotLocked(std::string_view token_id) const {
  Uuid uuid;
  return ParseUuid(token_id, uuid) ? FindSlotLocked(uuid) : FindTextSlotLocked(token_id);
}

std::uint32_t TokenCache::FindSlotLocked(const Uuid& uuid) const {
  return by_id_.Find(HashOf(uuid), [&](std::uint32_t slot) {
    const Record& record = RecordAt(slot);
    return !(record.flags & kTextId) && record.id == uuid;
  });
}

std::uint32_t TokenCache::FindTextSlotLocked(std::string_view token_id) const {
  return by_id_.Find(HashOf(token_id), [&](std::uint32_t slot) {
    const Record& record = RecordAt(slot);
    return (record.flags & kTextId) && TextIdOf(record) == token_id;
  });
}

std::pair<std::uint32_t, std::uint32_t> TokenCache::AppendLocked(std::string_view text) {
  if (text.empty()) return {0, 0};
  if (arena_.empty() || arena_used_ + text.size() > kArenaChunk) {
    arena_.push_back(std::make_unique<char[]>(std::max<std::size_t>(kArenaChunk, text.size())));
    arena_used_ = 0;
  }
  const auto chunk = static_cast<std::uint32_t>(arena_.size() - 1);
  std::memcpy(arena_.back().get() + arena_used_, text.data(), text.size());
  const std::uint32_t offset = (chunk << kArenaShift) + arena_used_;
  arena_used_ = std::min<std::uint32_t>(kArenaChunk, arena_used_ + text.size());
  return {offset, static_cast<std::uint32_t>(text.size())};
}

std::string_view TokenCache::ArenaText(std::uint32_t offset, std::uint32_t size) const {
  if (size == 0) return {};
  return {arena_[offset >> kArenaShift].get() + (offset & (kArenaChunk - 1)), size};
}

std::uint32_t TokenCache::InternLocked(const std::string& id, const std::string& name,
                                       std::uint32_t& last) {
  std::uint32_t index = last;
  if (index >= owner_ids_.size() || owner_ids_[index] != id) {
    if (auto it = owner_by_id_.find(id); it != owner_by_id_.end()) {
      index = it->second;
    } else {
      index = static_cast<std::uint32_t>(owner_ids_.size());
      owner_ids_.push_back(id);
      owner_names_.emplace_back();
      owner_by_id_.emplace(owner_ids_.back(), index);
    }
    last = index;
  }
  if (!id.empty() && !name.empty() && owner_names_[index] != name) owner_names_[index] = name;
  return index;
}

void TokenCache::Reserve(std::size_t count) {
  std::unique_lock lock(mutex_);
  by_hash_.Reserve(count);
  by_id_.Reserve(count);
  chunks_.reserve(count / kChunkRecords + 1);
}

void TokenCache::Put(const ApiToken& token, const TokenCredential& credential) {
  std::unique_lock lock(mutex_);
  const std::uint32_t organization =
      InternLocked(token.organization_id, token.organization_name, last_organization_);
  const std::uint32_t project = InternLocked(token.project_id, token.project_name, last_project_);
  Uuid uuid;
  const bool is_uuid = ParseUuid(token.id, uuid);
  std::uint32_t slot = is_uuid ? FindSlotLocked(uuid) : FindTextSlotLocked(token.id);
  if (token.status == TokenStatus::kRevoked || credential.secret_hash.size() > sizeof(Hash32)) {
    if (slot != HashIndex::kNone) RemoveLocked(slot);
    return;
  }
  const TimeMs last_used = token.last_used_at.value_or(0);
  const bool fresh = slot == HashIndex::kNone;
  if (fresh) {
    slot = NewSlotLocked();
    Record& record = RecordAt(slot);
    record.flags = 0;
    record.id = uuid;
    if (!is_uuid) {
      const auto [offset, size] = AppendLocked(token.id);
      std::memcpy(record.id.data(), &offset, 4);
      std::memcpy(record.id.data() + 4, &size, 4);
      record.flags = kTextId;
    }
    by_id_.Insert(IdHashOf(record), slot, [](std::uint32_t) { return false; });
    const std::uint64_t usage = record.usage.load(std::memory_order_relaxed);
    record.usage.store(Usage(GenerationOf(usage), false, last_used), std::memory_order_relaxed);
  } else {
    RemoveHashesLocked(slot);
    const Record& record = RecordAt(slot);
    std::uint64_t usage = record.usage.load(std::memory_order_relaxed);
    while (TimeOf(usage) < last_used &&
           !record.usage.compare_exchange_weak(
               usage, Usage(GenerationOf(usage), usage & kDirty, last_used))) {
    }
  }
  Record& record = RecordAt(slot);
  if (fresh || ArenaText(record.name_offset, record.name_size) != token.name) {
    std::tie(record.name_offset, record.name_size) = AppendLocked(token.name);
  }
  record.organization = organization;
  record.project = project;
  record.scope = static_cast<std::uint8_t>(token.scope);
  record.status = static_cast<std::uint8_t>(token.status);
  record.flags &= kTextId;
  if (token.expires_at) {
    record.expires_at = *token.expires_at;
    record.flags |= kExpires;
  }
  record.hash = PaddedHash(credential.secret_hash);
  by_hash_.Insert(HashOf(record.hash), slot,
                  [&](std::uint32_t found) { return HashAt(found) == record.hash; });
  if (credential.previous_hash && credential.previous_valid_until &&
      credential.previous_hash->size() <= sizeof(Hash32)) {
    const Previous& previous = previous_[slot] =
        Previous{PaddedHash(*credential.previous_hash), *credential.previous_valid_until};
    record.flags |= kPrevious;
    by_hash_.Insert(HashOf(previous.hash), slot | kPreviousBit,
                    [&](std::uint32_t found) { return HashAt(found) == previous.hash; });
  }
  auto permissions = CompiledPermissions::Compile(token.permissions);
  if (token.rate_limit_per_minute || permissions) {
    extras_[slot] = Extras{token.rate_limit_per_minute, std::move(permissions)};
    record.flags |= kExtras;
  } else if (!fresh) {
    extras_.erase(slot);
  }
}

const std::array<unsigned char, 32>& TokenCache::HashAt(std::uint32_t reference) const {
  static const Hash32 kNoHash{};
  if (!(reference & kPreviousBit)) return RecordAt(reference).hash;
  auto it = previous_.find(reference & ~kPreviousBit);
  return it == previous_.end() ? kNoHash : it->second.hash;
}

void TokenCache::RemoveHashesLocked(std::uint32_t slot) {
  Record& record = RecordAt(slot);
  by_hash_.Erase(HashOf(record.hash), slot);
  if (record.flags & kPrevious) {
    if (auto it = previous_.find(slot); it != previous_.end()) {
      by_hash_.Erase(HashOf(it->second.hash), slot | kPreviousBit);
      previous_.erase(it);
    }
    record.flags &= ~kPrevious;
  }
}

void TokenCache::Remove(std::string_view token_id) {
  std::unique_lock lock(mutex_);
  if (const std::uint32_t slot = FindSlotLocked(token_id); slot != HashIndex::kNone) {
    RemoveLocked(slot);
  }
}

void TokenCache::RemoveLocked(std::uint32_t slot) {
  RemoveHashesLocked(slot);
  Record& record = RecordAt(slot);
  by_id_.Erase(IdHashOf(record), slot);
  extras_.erase(slot);
  record.flags = 0;
  // A new generation: copies taken before can no longer mark the slot used.
  std::uint64_t usage = record.usage.load(std::memory_order_relaxed);
  while (!record.usage.compare_exchange_weak(usage, Usage(GenerationOf(usage) + 1, false, 0))) {
  }
  free_slots_.push_back(slot);
}

CachedToken TokenCache::CopyLocked(std::uint32_t slot) const {
  const Record& record = RecordAt(slot);
  CachedToken token;
  token.record_ = &record;
  token.slot_ = slot;
  const std::uint64_t usage = record.usage.load(std::memory_order_relaxed);
  token.generation_ = GenerationOf(usage);
  token.last_used_at = TimeOf(usage);
  if (record.flags & kTextId) {
    const std::string_view id = TextIdOf(record);
    token.external_id_ = id.data();
    token.id_size_ = static_cast<std::uint32_t>(id.size());
  } else {
    FormatUuid(record.id, token.id_text_.data());
    token.id_size_ = 36;
  }
  token.organization_id_ = &owner_ids_[record.organization];
  token.project_id_ = &owner_ids_[record.project];
  token.name_ = ArenaText(record.name_offset, record.name_size);
  token.scope = static_cast<TokenScope>(record.scope);
  token.status = static_cast<TokenStatus>(record.status);
  if (record.flags & kExpires) token.expires_at = record.expires_at;
  if (record.flags & kExtras) {
    if (auto it = extras_.find(slot); it != extras_.end()) {
      token.rate_limit_per_minute = it->second.rate_limit_per_minute;
      token.permissions = it->second.permissions;
    }
  }
  return token;
}

std::optional<CachedToken> TokenCache::FindByHash(std::string_view hash, TimeMs now) const {
  if (hash.size() > sizeof(Hash32)) return std::nullopt;
  const Hash32 key = PaddedHash(hash);
  std::shared_lock lock(mutex_);
  const std::uint32_t found =
      by_hash_.Find(HashOf(key), [&](std::uint32_t reference) { return HashAt(reference) == key; });
  if (found == HashIndex::kNone) return std::nullopt;
  const std::uint32_t slot = found & ~kPreviousBit;
  if (found & kPreviousBit) {
    auto it = previous_.find(slot);
    if (it == previous_.end() || it->second.valid_until <= now) return std::nullopt;
  }
  return CopyLocked(slot);
}

std::optional<CachedToken> TokenCache::FindById(std::string_view token_id) const {
  std::shared_lock lock(mutex_);
  const std::uint32_t slot = FindSlotLocked(token_id);
  if (slot == HashIndex::kNone) return std::nullopt;
  return CopyLocked(slot);
}

std::string TokenCache::NameOf(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = owner_by_id_.find(id);
  return it == owner_by_id_.end() ? std::string() : owner_names_[it->second];
}

void TokenCache::MarkUsed(const CachedToken& token, TimeMs now) {
  if (!token.record_) return;
  const auto& record = *static_cast<const Record*>(token.record_);
  std::uint64_t usage = record.usage.load(std::memory_order_relaxed);
  do {
    if (GenerationOf(usage) != token.generation_) return;
  } while (!record.usage.compare_exchange_weak(
      usage, Usage(token.generation_, true, std::max(now, TimeOf(usage))),
      std::memory_order_acq_rel, std::memory_order_relaxed));
  if (!(usage & kDirty)) {
    std::lock_guard lock(used_mutex_);
    used_.push_back(Use{token.slot_, token.generation_});
  }
}

std::string TokenCache::IdOf(const Record& record) const {
  if (record.flags & kTextId) return std::string(TextIdOf(record));
  std::string id(36, '\0');
  FormatUuid(record.id, id.data());
  return id;
}

std::vector<std::pair<std::string, TimeMs>> TokenCache::TakeLastUsed() {
  std::vector<Use> uses;
  {
    std::lock_guard lock(used_mutex_);
    uses.swap(used_);
  }
  std::vector<std::pair<std::string, TimeMs>> out;
  out.reserve(uses.size());
  std::shared_lock lock(mutex_);
  for (const Use& use : uses) {
    if (use.slot >= slots_used_) continue;
    const Record& record = RecordAt(use.slot);
    std::uint64_t usage = record.usage.load(std::memory_order_relaxed);
    while (GenerationOf(usage) == use.generation && (usage & kDirty)) {
      if (record.usage.compare_exchange_weak(usage, usage & ~kDirty, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
        out.emplace_back(IdOf(record), TimeOf(usage));
        break;
      }
    }
  }
  return out;
}

std::size_t TokenCache::size() const {
  std::shared_lock lock(mutex_);
  return by_id_.size();
}

}  // namespace gatehouse
