#include "core/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/text.h"

namespace gatehouse {
namespace {

constexpr int kV4MappedPrefixBits = 96;

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  text = Trim(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (auto zone = text.find('%'); zone != std::string_view::npos && text.find(':') < zone) {
    text = text.substr(0, zone);
  }
  // inet_pton needs a terminated string: a stack copy, so that a check on the request path
  // never allocates.
  char owned[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof owned) return std::nullopt;
  std::memcpy(owned, text.data(), text.size());
  owned[text.size()] = '\0';
  IpAddress address;
  if (text.find(':') == std::string_view::npos) {
    address.bytes[10] = 0xff;
    address.bytes[11] = 0xff;
    if (inet_pton(AF_INET, owned, address.bytes.data() + 12) != 1) return std::nullopt;
    return address;
  }
  if (inet_pton(AF_INET6, owned, address.bytes.data()) != 1) return std::nullopt;
  return address;
}

bool IpAddress::IsV4Mapped() const {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), kPrefix, sizeof kPrefix) == 0;
}

std::optional<CidrBlock> CidrBlock::Parse(std::string_view text) {
  text = Trim(text);
  const auto slash = text.find('/');
  auto address = IpAddress::Parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  const int max_bits = v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    if (bits < 0 || bits > max_bits) return std::nullopt;
  }
  CidrBlock block;
  block.prefix_bits = v4 ? kV4MappedPrefixBits + bits : bits;
  block.network = *address;
  for (int i = 0; i < 16; ++i) {
    const int kept = std::clamp(block.prefix_bits - i * 8, 0, 8);
    const auto mask = static_cast<std::uint8_t>(kept == 0 ? 0 : 0xff << (8 - kept));
    block.network.bytes[i] &= mask;
  }
  return block;
}

bool CidrBlock::Contains(const IpAddress& address) const {
  const int whole = prefix_bits / 8;
  if (std::memcmp(network.bytes.data(), address.bytes.data(), whole) != 0) return false;
  const int rest = prefix_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (network.bytes[whole] & mask) == (address.bytes[whole] & mask);
}

std::string CidrBlock::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  // An IPv4 block (mapped, prefix ≥ 96) is written as IPv4; "::/0" stays IPv6.
  if (network.IsV4Mapped() && prefix_bits >= kV4MappedPrefixBits) {
    inet_ntop(AF_INET, network.bytes.data() + 12, text, sizeof text);
    return std::string(text) + "/" + std::to_string(prefix_bits - kV4MappedPrefixBits);
  }
  inet_ntop(AF_INET6, network.bytes.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefix_bits);
}

bool AnyContains(std::span<const CidrBlock> blocks, const IpAddress& address) {
  for (const auto& block : blocks) {
    if (block.Contains(address)) return true;
  }
  return false;
}

std::string ClientAddressOf(std::string_view peer, std::string_view forwarded_for,
                            std::span<const CidrBlock> trusted_proxies) {
  if (trusted_proxies.empty() || forwarded_for.empty()) return std::string(peer);
  const auto peer_address = IpAddress::Parse(peer);
  if (!peer_address || !AnyContains(trusted_proxies, *peer_address)) return std::string(peer);
  std::string_view chosen = peer;
  std::string_view rest = forwarded_for;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    const std::string_view entry =
        Trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    const auto address = IpAddress::Parse(entry);
    if (!address) break;
    chosen = entry;
    if (!AnyContains(trusted_proxies, *address)) break;
  }
  if (chosen.size() >= 2 && chosen.front() == '[') chosen = chosen.substr(1, chosen.size() - 2);
  return std::string(chosen);
}

}  // namespace gatehouse
