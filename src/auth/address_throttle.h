#ifndef GATEHOUSE_AUTH_ADDRESS_THROTTLE_H_
#define GATEHOUSE_AUTH_ADDRESS_THROTTLE_H_

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace gatehouse {

struct AddressThrottleLimits {
  int failures = 10;          // failures per window that close an address until the window ends
  TimeMs window_ms = 60'000;  // fixed window, starting at an address's first failure
  std::size_t max_addresses = 100'000;  // addresses tracked at most (memory bound)
};

// Failed authentications per client address (API.md §6: many failures from one address within
// a minute get 429 id 9002 for that address only). IPv6 addresses count per /64, since one
// host usually holds a whole /64; IPv4-mapped IPv6 addresses count as their IPv4 address.
// When `max_addresses` addresses are tracked and none of their windows has ended, a new
// address is not tracked (the table never grows beyond its bound). Thread-safe.
class AddressThrottle {
 public:
  explicit AddressThrottle(AddressThrottleLimits limits = {}) : limits_(limits) {}
  AddressThrottle(const AddressThrottle&) = delete;
  AddressThrottle& operator=(const AddressThrottle&) = delete;

  // 0 when `address` may try at `now`; else the milliseconds until it may.
  TimeMs BlockedFor(std::string_view address, TimeMs now) const;
  // Counts a failed attempt from `address` at `now`.
  void RecordFailure(std::string_view address, TimeMs now);

  std::size_t tracked() const;

 private:
  struct Window {
    TimeMs start = 0;
    int failures = 0;
  };

  const AddressThrottleLimits limits_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;  // guarded by mutex_
  TimeMs next_sweep_at_ = 0;                         // guarded by mutex_
};

// The key an address is counted under: the /64 prefix of an IPv6 address, the IPv4 address of
// an IPv4-mapped one, else the text as given.
std::string ThrottleKeyOf(std::string_view address);

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_ADDRESS_THROTTLE_H_
