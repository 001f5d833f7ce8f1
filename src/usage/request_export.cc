#include "usage/request_export.h"

namespace gatehouse {

Result<std::unique_ptr<RequestCursor>> RequestExporter::Open(const ExportScope& scope,
                                                             RequestQuery query) {
  query.organization_id = scope.organization_id;
  if (scope.project_id.empty()) {
    if (!query.project_id.empty()) {
      auto project = store_.FindProject(scope.organization_id, query.project_id);
      if (!project) return std::unexpected(project.error());
      if (!*project) return Fail(ErrorCode::kProjectNotFound);
    }
  } else {
    if (!query.project_id.empty() && query.project_id != scope.project_id) {
      return Fail(ErrorCode::kOutOfScope, {}, "another project");
    }
    query.project_id = scope.project_id;
  }
  return store_.OpenRequestCursor(query);
}

}  // namespace gatehouse
