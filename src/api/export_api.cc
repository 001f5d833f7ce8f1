#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"
#include "usage/export_writer.h"

namespace gatehouse {
namespace {

// The end of a range given as a plain date covers that whole day.
std::optional<TimeMs> RangeEnd(const std::string& text) {
  auto parsed = ParseTimestamp(text);
  if (parsed && text.size() == 10) *parsed += 86400000 - 1;
  return parsed;
}

void Export(ApiServices& services, const HttpRequest& request, HttpResponse& response) {
  auto caller = Authenticate(request, services);
  if (!caller) return WriteError(response, caller.error());
  const QueryParams params(request.query);

  RequestQuery query;
  query.organization_id = caller->organization_id();
  const std::string asked_project = params.Get("projectId").value_or("");
  if (!asked_project.empty() && !IsUuid(asked_project)) {
    return WriteError(response, Error(ErrorCode::kPattern, "projectId"));
  }
  if (caller->IsOrganization()) {
    if (!asked_project.empty()) {
      auto project = services.projects.Find(caller->organization_id(), asked_project);
      if (!project) return WriteError(response, project.error());
    }
    query.project_id = asked_project;
  } else {
    if (!asked_project.empty() && asked_project != caller->token->project_id) {
      return WriteError(response, Error(ErrorCode::kOutOfScope));
    }
    query.project_id = caller->token->project_id;
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

  auto cursor = services.store.OpenRequestCursor(query);
  if (!cursor) return WriteError(response, cursor.error());
  response.status = 200;
  response.content_type = std::string(ContentTypeOf(*format));
  if (*format == ExportFormat::kCsv) {
    response.headers.emplace_back("Content-Disposition", "attachment; filename=\"requests.csv\"");
  }
  response.body_source = std::make_shared<ExportStream>(std::move(*cursor), *format);
}

}  // namespace

void AddExportRoutes(Router& router, ApiServices& services) {
  router.Add("GET", "/v1/organization/request/export",
             [&services](const HttpRequest& request, const PathParams&, HttpResponse& response) {
               Export(services, request, response);
             });
}

}  // namespace gatehouse
