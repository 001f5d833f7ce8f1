#ifndef GATEHOUSE_CORE_MODEL_H_
#define GATEHOUSE_CORE_MODEL_H_

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace gatehouse {

enum class TokenScope { kOrganization, kProject };
enum class TokenStatus { kActive, kBlocked, kRevoked };

std::string_view ToString(TokenScope scope);    // "Organization" | "Project"
std::string_view ToString(TokenStatus status);  // "Active" | "Blocked" | "Revoked"
// Case-insensitive parsers for request values.
std::optional<TokenStatus> ParseTokenStatus(std::string_view text);

struct Organization {
  std::string id;
  std::string name;
  std::string admin_email;
  TimeMs created_at = 0;
};

struct Project {
  std::string id;
  std::string organization_id;
  std::string organization_name;
  std::string name;
  std::string description;
  std::string admin_email;
  bool active = true;
  TimeMs created_at = 0;
  TimeMs updated_at = 0;

  // API.md §4: 0 Active, 2 Hidden.
  int StatusCode() const { return active ? 0 : 2; }
};

// An API token as every listing shows it: never the secret, only its first characters.
struct ApiToken {
  std::string id;
  std::string organization_id;
  std::string organization_name;  // filled by store reads; may be empty on fresh objects
  std::string project_id;  // empty for organization tokens
  std::string project_name;
  TokenScope scope = TokenScope::kProject;
  std::string name;
  std::string description;
  TokenStatus status = TokenStatus::kActive;
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  std::optional<TimeMs> last_used_at;
  std::optional<TimeMs> expires_at;
  std::string secret_prefix;
};

// What the store keeps to recognise a token's secret: never the secret itself.
struct TokenCredential {
  std::string secret_hash;            // HMAC-SHA256 of the secret, 32 raw bytes
  std::optional<std::string> sealed;  // AES-256-GCM sealed secret, absent with reveal=never
  // The secret replaced by a rotation keeps working until previous_valid_until.
  std::optional<std::string> previous_hash;
  std::optional<TimeMs> previous_valid_until;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_MODEL_H_
