#ifndef GATEHOUSE_CORE_MODEL_H_
#define GATEHOUSE_CORE_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/token_permissions.h"

namespace gatehouse {

// The numbers of these two enums are stored on disk (api_tokens.scope, api_tokens.status):
// never renumber them; a new value takes a new number.
enum class TokenScope {
  kOrganization = 0,  // stored on disk
  kProject = 1,       // stored on disk
};
enum class TokenStatus {
  kActive = 0,   // stored on disk
  kBlocked = 1,  // stored on disk
  kRevoked = 2,  // stored on disk
};

std::string_view ToString(TokenScope scope);    // "Organization" | "Project"
std::string_view ToString(TokenStatus status);  // "Active" | "Blocked" | "Revoked"
// Case-insensitive parsers for request values.
std::optional<TokenStatus> ParseTokenStatus(std::string_view text);

// The one rule for "this token authenticates at `now`" (API.md §3): Active and not past its
// optional expiry. Blocked, revoked and expired tokens are all refused alike.
bool TokenUsableAt(TokenStatus status, std::optional<TimeMs> expires_at, TimeMs now);

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
  std::string project_id;         // empty for organization tokens
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
  std::optional<std::int64_t> rate_limit_per_minute;  // API.md §6; none when absent
  TokenPermissions permissions;                       // API.md §3; unrestricted by default

  bool UsableAt(TimeMs now) const { return TokenUsableAt(status, expires_at, now); }
};

// What the store keeps to recognise a token's secret: never the secret itself.
struct TokenCredential {
  std::string secret_hash;            // HMAC-SHA256 of the secret, 32 raw bytes
  std::optional<std::string> sealed;  // AES-256-GCM sealed secret, absent with reveal=never
  // The secret replaced by a rotation keeps working until previous_valid_until.
  std::optional<std::string> previous_hash;
  std::optional<TimeMs> previous_valid_until;
};

// The model an assistant runs and how (API.md §8). Unset numbers leave the provider's default.
struct LlmSettings {
  std::string provider_name;
  std::string model_name;
  std::optional<double> temperature;
  std::optional<std::int64_t> max_tokens;

  bool operator==(const LlmSettings&) const = default;
};

struct Assistant {
  std::string id;
  std::string organization_id;
  std::string project_id;
  std::string name;
  std::string description;
  std::string prompt;
  LlmSettings llm;
  std::int64_t revision = 1;  // grows when prompt or llm settings change
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
};

// One past version of an assistant's prompt and settings.
struct AssistantRevision {
  std::int64_t revision = 1;
  std::string prompt;
  LlmSettings llm;
  TimeMs created_at = 0;
};

// One metered call (API.md §4 export item). Optional text fields are null in the export.
struct RequestRecord {
  std::string id;
  std::string organization_id;
  std::string project_id;
  std::string api_token_id;
  std::string api_token_name;
  std::optional<std::string> assistant;
  std::optional<std::string> intent;
  std::string module = "chat";
  std::optional<std::string> session_id;
  std::string model;
  std::string status;  // "succeeded" | "failed" | "pending"
  int http_status = 0;
  TimeMs start_ms = 0;
  TimeMs end_ms = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  double cost = 0;
  std::optional<std::string> prompt;
  std::optional<std::string> input_text;
  std::optional<std::string> output;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_MODEL_H_
