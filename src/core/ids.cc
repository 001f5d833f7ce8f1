#include "core/ids.h"

#include <openssl/rand.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace gatehouse {
namespace {

std::string FormatUuidV4(std::array<unsigned char, 16> bytes) {
  bytes[6] = (bytes[6] & 0x0F) | 0x40;
  bytes[8] = (bytes[8] & 0x3F) | 0x80;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  std::size_t at = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++at;
    out[at++] = kHex[bytes[i] >> 4];
    out[at++] = kHex[bytes[i] & 0x0F];
  }
  return out;
}

// Bumped in a forked child, so that it never repeats its parent's ids.
std::atomic<std::uint64_t> fork_generation{0};

// xoshiro256** (Blackman and Vigna): 256 bits of state, period 2^256 - 1.
class IdGenerator {
 public:
  std::uint64_t Next() {
    if (seeded_generation_ != fork_generation.load(std::memory_order_relaxed) || !seeded_) Seed();
    const std::uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

 private:
  static std::uint64_t Rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  void Seed() {
    static const int registered = pthread_atfork(
        nullptr, nullptr, [] { fork_generation.fetch_add(1, std::memory_order_relaxed); });
    (void)registered;
    do {
      if (RAND_bytes(reinterpret_cast<unsigned char*>(state_), sizeof state_) != 1) std::abort();
    } while ((state_[0] | state_[1] | state_[2] | state_[3]) == 0);
    seeded_generation_ = fork_generation.load(std::memory_order_relaxed);
    seeded_ = true;
  }

  std::uint64_t state_[4] = {};
  std::uint64_t seeded_generation_ = 0;
  bool seeded_ = false;
};

}  // namespace

std::string NewUuid() {
  std::array<unsigned char, 16> bytes;
  if (RAND_bytes(bytes.data(), bytes.size()) != 1) std::abort();
  return FormatUuidV4(bytes);
}

std::string NewRequestId() {
  thread_local IdGenerator generator;
  const std::uint64_t high = generator.Next();
  const std::uint64_t low = generator.Next();
  std::array<unsigned char, 16> bytes;
  std::memcpy(bytes.data(), &high, 8);
  std::memcpy(bytes.data() + 8, &low, 8);
  return FormatUuidV4(bytes);
}

}  // namespace gatehouse
