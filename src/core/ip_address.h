#ifndef GATEHOUSE_CORE_IP_ADDRESS_H_
#define GATEHOUSE_CORE_IP_ADDRESS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gatehouse {

// An IPv4 or IPv6 address held as 16 bytes: an IPv4 address is stored as its IPv4-mapped IPv6
// form (::ffff:a.b.c.d), so "10.0.0.1" and "::ffff:10.0.0.1" are the same address and match the
// same blocks.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};

  // "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"; also "[2001:db8::1]" and an IPv6 zone
  // ("fe80::1%eth0", the zone dropped). Nullopt for anything else (ports are not accepted).
  static std::optional<IpAddress> Parse(std::string_view text);

  bool IsV4Mapped() const;
  bool operator==(const IpAddress&) const = default;
};

// A CIDR block: an address and a prefix length counted on the 16-byte form (an IPv4 /n is
// stored as /(96+n)). Parse canonicalises: the host bits of the address are cleared.
struct CidrBlock {
  IpAddress network;
  int prefix_bits = 128;

  // "10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0", "::/0"; a bare address is a /32 or /128.
  // Nullopt when the address does not parse or the prefix is not a number in 0..32 (IPv4) or
  // 0..128 (IPv6). "::/0" matches every address, "0.0.0.0/0" every IPv4 address.
  static std::optional<CidrBlock> Parse(std::string_view text);

  bool Contains(const IpAddress& address) const;
  // The block as it is written canonically ("10.0.0.0/8", "2001:db8::/32").
  std::string ToString() const;
};

bool AnyContains(std::span<const CidrBlock> blocks, const IpAddress& address);

// The client address of a request (API.md §3, §11): the socket peer, unless the peer is a
// trusted proxy; then the right-most address of `forwarded_for` (the X-Forwarded-For header,
// possibly several comma-separated values joined) that is not itself a trusted proxy. When every
// entry is trusted, the left-most one; an unparsable entry met while walking from the right ends
// the walk at the last good address (the header's value left of it cannot be believed).
// Returns `peer` unchanged when there are no trusted proxies or the peer is not one of them.
std::string ClientAddressOf(std::string_view peer, std::string_view forwarded_for,
                            std::span<const CidrBlock> trusted_proxies);

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_IP_ADDRESS_H_
