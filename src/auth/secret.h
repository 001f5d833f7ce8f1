#ifndef GATEHOUSE_AUTH_SECRET_H_
#define GATEHOUSE_AUTH_SECRET_H_

#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// API.md §3: prefix, 43 base62 characters carrying 256 random bits, then a 6-character base62
// CRC32 of everything before it. The checksum lets a typo or a forged string be rejected
// without any lookup.
enum class SecretKind { kOrganization, kProject, kSystemAdmin };

inline constexpr std::size_t kSecretLength = 4 + 43 + 6;
inline constexpr std::size_t kSecretPrefixLength = 8;  // shown in listings as "secretPrefix"

std::string GenerateSecret(SecretKind kind);

// The kind of a well-formed secret with a valid checksum; nullopt otherwise. Cheap: no lookup.
std::optional<SecretKind> ParseSecret(std::string_view text);

}  // namespace gatehouse

#endif  // GATEHOUSE_AUTH_SECRET_H_
