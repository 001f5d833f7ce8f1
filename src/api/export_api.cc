#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"
#include "usage/export_writer.h"
#include "usage/parallel_export_stream.h"

namespace gatehouse {
namespace {

constexpr std::size_t kExportChunkBytes = 256 * 1024;

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
  auto slot = services.export_slots.Acquire(std::string(call.caller.token->id()),
                                            call.caller.organization_id());
  if (!slot) return WriteError(response, slot.error());
  const ExportScope scope{call.caller.organization_id(), call.caller.project_id()};
  std::shared_ptr<BodySource> body;
  // A whole walk is read by up to three threads at once; skip and count are counted in one walk.
  if (query.skip == 0 && query.count == 0) {
    auto parts =
        services.exports.OpenParts(scope, std::move(query), ParallelExportStream::kMaxOpenParts);
    if (!parts) return WriteError(response, parts.error());
    body = std::make_shared<ParallelExportStream>(std::move(*parts), *format, kExportChunkBytes,
                                                  std::move(*slot));
  } else {
    auto cursor = services.exports.Open(scope, std::move(query));
    if (!cursor) return WriteError(response, cursor.error());
    body = std::make_shared<ExportStream>(std::move(*cursor), *format, kExportChunkBytes,
                                          std::move(*slot));
  }
  response.status = 200;
  response.content_type = ContentTypeOf(*format);
  if (*format == ExportFormat::kCsv) {
    response.headers.emplace_back("Content-Disposition", "attachment; filename=\"requests.csv\"");
  }
  response.body_source = std::move(body);
}

constexpr TimeMs kDayMs = 86'400'000;
// An hourly series is at most this long, so one answer stays a few thousand points per group.
constexpr TimeMs kMaxHourlyRangeMs = 92 * kDayMs;

boost::json::object TotalsJson(const UsageTotals& totals) {
  return boost::json::object{{"requests", totals.requests},
                             {"failed", totals.failed},
                             {"promptTokens", totals.prompt_tokens},
                             {"completionTokens", totals.completion_tokens},
                             {"cost", totals.cost},
                             {"elapsedMs", totals.elapsed_ms}};
}

boost::json::object GroupKeyJson(UsageDimension dimension, const UsageSummary::Group& group) {
  switch (dimension) {
    case UsageDimension::kNone:
      return {};
    case UsageDimension::kProject:
      return {{"projectId", group.key}, {"projectName", group.label}};
    case UsageDimension::kToken:
      return {{"apiTokenId", group.key},
              {"apiToken", group.label},
              {"projectId", group.project_id},
              {"projectName", group.project_name}};
    case UsageDimension::kAssistant:
      return {{"assistant", group.key}};
    case UsageDimension::kModel:
      return {{"model", group.key}};
  }
  return {};
}

// GET /v2/usage/summary (API.md §8). Dates: a plain date is a whole UTC day (startDate from its
// start, endDate through its end); a timestamp is an instant (endDate included).
Result<boost::json::value> Summary(ApiServices& services, const ApiCall& call) {
  const QueryParams params(call.request.query);
  UsageSummaryQuery query;
  query.project_id = params.Get("projectId").value_or("");
  if (!query.project_id.empty() && !IsUuid(query.project_id)) {
    return Fail(ErrorCode::kPattern, "projectId");
  }
  query.api_token_id = params.Get("apiTokenId").value_or("");
  if (!query.api_token_id.empty() && !IsUuid(query.api_token_id)) {
    return Fail(ErrorCode::kPattern, "apiTokenId");
  }
  query.assistant = params.Get("assistant").value_or("");
  query.model = params.Get("model").value_or("");
  auto group_by = params.Choice("groupBy", {"none", "project", "token", "assistant", "model"}, 0);
  if (!group_by) return std::unexpected(group_by.error());
  query.group_by = static_cast<UsageDimension>(*group_by);
  auto interval = params.Choice("interval", {"none", "hour", "day"}, 0);
  if (!interval) return std::unexpected(interval.error());

  query.end_ms = services.clock.Now() + 1;
  if (auto end = params.Get("endDate"); end && !end->empty()) {
    auto parsed = RangeEnd(*end);
    if (!parsed) return Fail(ErrorCode::kPattern, "endDate");
    query.end_ms = *parsed + 1;
  }
  query.start_ms = query.end_ms - 30 * kDayMs;
  if (auto start = params.Get("startDate"); start && !start->empty()) {
    auto parsed = ParseTimestamp(*start);
    if (!parsed) return Fail(ErrorCode::kPattern, "startDate");
    query.start_ms = *parsed;
  }
  if (query.start_ms >= query.end_ms) return Fail(ErrorCode::kPattern, "endDate");
  const auto kind = static_cast<UsageInterval>(*interval);
  if (kind == UsageInterval::kHour && query.end_ms - query.start_ms > kMaxHourlyRangeMs) {
    return Fail(ErrorCode::kPattern, "interval");
  }
  TimeZone zone = TimeZone::Utc();
  if (auto name = params.Get("timeZone"); name && !name->empty()) {
    auto loaded = TimeZone::Load(*name);
    if (!loaded) return std::unexpected(loaded.error());
    zone = std::move(*loaded);
  }

  auto summary = services.exports.Summarize(
      ExportScope{call.caller.organization_id(), call.caller.project_id()}, query, kind, zone);
  if (!summary) return std::unexpected(summary.error());
  boost::json::array groups;
  for (const auto& group : summary->groups) {
    boost::json::array series;
    for (const auto& point : group.series) {
      boost::json::object item = TotalsJson(point.totals);
      item.emplace("start", FormatTimestamp(point.start_ms));
      series.push_back(std::move(item));
    }
    groups.push_back(boost::json::object{{"key", GroupKeyJson(query.group_by, group)},
                                         {"totals", TotalsJson(group.totals)},
                                         {"series", std::move(series)}});
  }
  return boost::json::object{{"startDate", FormatTimestamp(query.start_ms)},
                             {"endDate", FormatTimestamp(query.end_ms - 1)},
                             {"groups", std::move(groups)}};
}

}  // namespace

void AddExportRoutes(RouteTable& routes) {
  routes.Add("GET", "/v1/organization/request/export", Access::kAnyToken, Export);
  routes.AddJson("GET", "/v2/usage/summary", Access::kAnyToken, Summary);
}

}  // namespace gatehouse
