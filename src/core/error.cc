#include "core/error.h"

namespace gatehouse {
namespace {

struct Row {
  int status;
  int id;
  std::string_view text;
};

Row RowOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kApiKeyNotFound:
      return {401, 5, "Api Key Not Found"};
    case ErrorCode::kTokenNotFoundOrBlocked:
      return {401, 6, "ApiToken not found or blocked"};
    case ErrorCode::kOutOfScope:
      return {403, 7, "ApiToken out of scope"};
    case ErrorCode::kModelNotAllowed:
      return {403, 7, "Model not allowed for this ApiToken"};
    case ErrorCode::kAssistantNotAllowed:
      return {403, 7, "Assistant not allowed for this ApiToken"};
    case ErrorCode::kAddressNotAllowed:
      return {403, 7, "Address not allowed for this ApiToken"};
    case ErrorCode::kOutOfRange:
      return {400, 8, "Field %1 is out of range"};
    case ErrorCode::kRequired:
      return {400, 9, "Field %1 is required"};
    case ErrorCode::kPattern:
      return {400, 11, "Field %1 does not match the specified pattern"};
    case ErrorCode::kBadInputText:
      return {400, 20, "Bad Input Text"};
    case ErrorCode::kProjectNotFound:
      return {404, 2005, "Project Not Found"};
    case ErrorCode::kAssistantNotFound:
      return {404, 1, "Assistant Not Found"};
    case ErrorCode::kApiTokenNotFound:
      return {404, 9004, "ApiToken Not Found"};
    case ErrorCode::kOrganizationNotFound:
      return {404, 9006, "Organization Not Found"};
    case ErrorCode::kUsageLimitNotFound:
      return {404, 9007, "Usage Limit Not Found"};
    case ErrorCode::kBadEndpoint:
      return {404, 404, "Bad Endpoint"};
    case ErrorCode::kMethodNotAllowed:
      return {405, 405, "Method Not Allowed"};
    case ErrorCode::kProjectNameExists:
      return {409, 2029, "Project name already exists"};
    case ErrorCode::kAssistantNameExists:
      return {409, 2030, "Assistant name already exists"};
    case ErrorCode::kTokenNameExists:
      return {409, 9001, "ApiToken name already exists"};
    case ErrorCode::kLastOrganizationToken:
      return {409, 9003, "The last active organization ApiToken cannot be blocked or revoked"};
    case ErrorCode::kConflict:
      return {409, 409, "Conflict"};
    case ErrorCode::kPayloadTooLarge:
      return {413, 413, "Payload Too Large"};
    case ErrorCode::kUnsupportedMediaType:
      return {415, 9005, "Content-Type must be application/json"};
    case ErrorCode::kQuotaExceeded:
      return {429, 154, "Quota exceeded."};
    case ErrorCode::kRateLimited:
      return {429, 9002, "Rate limit exceeded"};
    case ErrorCode::kInternal:
      return {500, 500, "Internal Server Error"};
    case ErrorCode::kBadGateway:
      return {502, 502, "Bad Gateway"};
    case ErrorCode::kProviderTimeout:
      return {504, 100, "Provider Request Timeout"};
    case ErrorCode::kStoreBusy:
      return {503, 503, "Service Unavailable"};
    case ErrorCode::kStoreUnavailable:
      return {503, 9008, "Store Unavailable"};
  }
  return {500, 500, "Internal Server Error"};
}

}  // namespace

int HttpStatusOf(ErrorCode code) { return RowOf(code).status; }

int ErrorIdOf(ErrorCode code) { return RowOf(code).id; }

std::string DescriptionOf(const ErrorItem& item) {
  std::string text(RowOf(item.code).text);
  if (auto at = text.find("%1"); at != std::string::npos) text.replace(at, 2, item.field);
  return text;
}

}  // namespace gatehouse
