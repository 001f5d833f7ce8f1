#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"
#include "usage/export_writer.h"

namespace gatehouse {
namespace {

constexpr std::size_t kExportChunkBytes = 64 * 1024;

// The end of a range given as a plain date covers that whole day.
std::optional<TimeMs> RangeEnd(const std::string& text) {
  auto parsed = ParseTimestamp(text);
  if (parsed && text.size() == 10) *parsed += 86400000 - 1;
  return parsed;
}

void Export(ApiServices& services, const ApiCall& call, HttpResponse& response) {
  const QueryParams params(call.request.query);
  RequestQuery query;
  query.project_id = params.Get("projectId").value_or("");
  if (!query.project_id.empty() && !IsUuid(query.project_id)) {
    return WriteError(response, Error(ErrorCode::kPattern, "projectId"));
  }
  query.assistant_name = params.Get("assistantName").value_or("");
  query.api_token = params.Get("apiToken").value_or("");
  auto status = params.Choice("status", {"", "succeeded", "failed", "pending"}, 0);
  if (!status) return WriteError(response, status.error());
  if (*status > 0) query.status = ToLower(*params.Get("status"));
  auto skip = params.Integer("skip", 0, 0, INT64_MAX);
  if (!skip) return WriteError(response, skip.error());
  auto count = params.Integer("count", 0, 0, INT64_MAX);
  if (!count) return WriteError(response, count.error());
  query.skip = *skip;
  query.count = *count;
  if (auto start = params.Get("startDate"); start && !start->empty()) {
    query.start_ms = ParseTimestamp(*start);
    if (!query.start_ms) return WriteError(response, Error(ErrorCode::kPattern, "startDate"));
  }
  if (auto end = params.Get("endDate"); end && !end->empty()) {
    query.end_ms = RangeEnd(*end);
    if (!query.end_ms) return WriteError(response, Error(ErrorCode::kPattern, "endDate"));
  }
  const auto format = ParseExportFormat(params.Get("format").value_or(""));
  if (!format) return WriteError(response, Error(ErrorCode::kPattern, "format"));

  // The slot is taken last, once the query is known to be valid, and held by the stream.
  auto slot = services.export_slots.Acquire(call.caller.token->id, call.caller.organization_id());
  if (!slot) return WriteError(response, slot.error());
  auto cursor = services.exports.Open(
      ExportScope{call.caller.organization_id(), call.caller.project_id()}, std::move(query));
  if (!cursor) return WriteError(response, cursor.error());
  response.status = 200;
  response.content_type = std::string(ContentTypeOf(*format));
  if (*format == ExportFormat::kCsv) {
    response.headers.emplace_back("Content-Disposition", "attachment; filename=\"requests.csv\"");
  }
  response.body_source = std::make_shared<ExportStream>(std::move(*cursor), *format,
                                                        kExportChunkBytes, std::move(*slot));
}

}  // namespace

void AddExportRoutes(RouteTable& routes) {
  routes.Add("GET", "/v1/organization/request/export", Access::kAnyToken, Export);
}

}  // namespace gatehouse
