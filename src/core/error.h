#ifndef GATEHOUSE_CORE_ERROR_H_
#define GATEHOUSE_CORE_ERROR_H_

#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse {

// One code per row of API.md §2. The HTTP status, the numeric id and the client text of a code
// never change; what went wrong internally travels separately in Error::internal.
enum class ErrorCode {
  kApiKeyNotFound,
  kTokenNotFoundOrBlocked,
  kOutOfScope,
  // 403 id 7 with their own descriptions (API.md §3, token permissions).
  kModelNotAllowed,
  kAssistantNotAllowed,
  kAddressNotAllowed,
  kOutOfRange,
  kRequired,
  kPattern,
  kBadInputText,
  kProjectNotFound,
  kAssistantNotFound,
  kApiTokenNotFound,
  kOrganizationNotFound,
  kUsageLimitNotFound,
  kBadEndpoint,
  kMethodNotAllowed,
  kProjectNameExists,
  kAssistantNameExists,
  kTokenNameExists,
  kLastOrganizationToken,
  kConflict,
  kPayloadTooLarge,
  kUnsupportedMediaType,
  kQuotaExceeded,
  kRateLimited,
  kInternal,
  kBadGateway,
  kProviderTimeout,
  kStoreBusy,         // 503: a write waited past its budget for the store's write lock
  kStoreUnavailable,  // 503: the store's database cannot be reached (PostgreSQL down)
};

struct ErrorItem {
  ErrorCode code;
  std::string field;  // substituted for %1 in the description; empty when the text has none
};

// A failure as the client sees it (one or more items, the first decides the HTTP status)
// plus an internal message meant for the log only.
struct Error {
  Error(ErrorCode code, std::string field = {}, std::string internal = {})
      : items{{code, std::move(field)}}, internal(std::move(internal)) {}

  ErrorCode code() const { return items.front().code; }

  std::vector<ErrorItem> items;
  std::string internal;
  int retry_after_seconds = 0;  // > 0: sent as Retry-After (429 id 9002)
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

// Convenience for `return Fail(ErrorCode::kX, "field");` from functions returning Result<T>.
inline std::unexpected<Error> Fail(ErrorCode code, std::string field = {},
                                   std::string internal = {}) {
  return std::unexpected<Error>(Error(code, std::move(field), std::move(internal)));
}

int HttpStatusOf(ErrorCode code);
int ErrorIdOf(ErrorCode code);
// The client text of `item`, with the field name substituted where the row has %1.
std::string DescriptionOf(const ErrorItem& item);

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_ERROR_H_
