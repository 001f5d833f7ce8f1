#include "core/model.h"

#include "core/text.h"

namespace gatehouse {

std::string_view ToString(TokenScope scope) {
  return scope == TokenScope::kOrganization ? "Organization" : "Project";
}

std::string_view ToString(TokenStatus status) {
  switch (status) {
    case TokenStatus::kActive:
      return "Active";
    case TokenStatus::kBlocked:
      return "Blocked";
    case TokenStatus::kRevoked:
      return "Revoked";
  }
  return "Revoked";
}

std::optional<TokenStatus> ParseTokenStatus(std::string_view text) {
  for (auto status : {TokenStatus::kActive, TokenStatus::kBlocked, TokenStatus::kRevoked}) {
    if (EqualsIgnoreCase(text, ToString(status))) return status;
  }
  return std::nullopt;
}

bool TokenUsableAt(TokenStatus status, std::optional<TimeMs> expires_at, TimeMs now) {
  return status == TokenStatus::kActive && (!expires_at || *expires_at > now);
}

}  // namespace gatehouse
