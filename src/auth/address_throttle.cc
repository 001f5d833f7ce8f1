#include "auth/address_throttle.h"

#include <arpa/inet.h>

#include <array>

#include "core/text.h"

namespace gatehouse {

std::string ThrottleKeyOf(std::string_view address) {
  if (address.find(':') == std::string_view::npos || address.size() >= INET6_ADDRSTRLEN) {
    return std::string(address);
  }
  const std::string text(address);
  std::array<unsigned char, 16> bytes;
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) != 1) return text;
  static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(bytes.begin(), bytes.begin() + 12, kMappedPrefix)) {
    return std::to_string(bytes[12]) + "." + std::to_string(bytes[13]) + "." +
           std::to_string(bytes[14]) + "." + std::to_string(bytes[15]);
  }
  return ToHex(std::string_view(reinterpret_cast<const char*>(bytes.data()), 8)) + "::/64";
}

TimeMs AddressThrottle::BlockedFor(std::string_view address, TimeMs now) const {
  const std::string key = ThrottleKeyOf(address);
  std::lock_guard lock(mutex_);
  auto it = windows_.find(key);
  if (it == windows_.end()) return 0;
  const TimeMs ends = it->second.start + limits_.window_ms;
  if (ends <= now || it->second.failures < limits_.failures) return 0;
  return ends - now;
}

void AddressThrottle::RecordFailure(std::string_view address, TimeMs now) {
  std::string key = ThrottleKeyOf(address);
  std::lock_guard lock(mutex_);
  auto it = windows_.find(key);
  if (it != windows_.end()) {
    if (it->second.start + limits_.window_ms <= now) {
      it->second = Window{now, 1};
    } else {
      ++it->second.failures;
    }
    return;
  }
  if (windows_.size() >= limits_.max_addresses) {
    // A sweep walks the whole table: at most one a second, however fast failures arrive.
    if (now < next_sweep_at_) return;
    next_sweep_at_ = now + 1000;
    std::erase_if(windows_,
                  [&](const auto& entry) { return entry.second.start + limits_.window_ms <= now; });
    if (windows_.size() >= limits_.max_addresses) return;
  }
  windows_.emplace(std::move(key), Window{now, 1});
}

std::size_t AddressThrottle::tracked() const {
  std::lock_guard lock(mutex_);
  return windows_.size();
}

}  // namespace gatehouse
