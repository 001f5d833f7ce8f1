#ifndef GATEHOUSE_USAGE_REQUEST_EXPORT_H_
#define GATEHOUSE_USAGE_REQUEST_EXPORT_H_

#include <memory>
#include <string>

#include "core/error.h"
#include "store/store.h"

namespace gatehouse {

// Who asks for an export, as its scope rules need it.
struct ExportScope {
  std::string organization_id;
  std::string project_id;  // the caller's own project; empty for an organization token
};

// The scope rules of the request export (API.md §4). Thread-safe; `store` must outlive it.
class RequestExporter {
 public:
  explicit RequestExporter(Store& store) : store_(store) {}

  // Opens a cursor over the records `query` selects within what `scope` may see. The query's
  // project_id is the project asked for, or empty: an organization token may ask for any project
  // of its organization (404 id 2005 for others) or none (all of them); a project token sees
  // its own project only (403 id 7 when it asks for another).
  Result<std::unique_ptr<RequestCursor>> Open(const ExportScope& scope, RequestQuery query);

 private:
  Store& store_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_REQUEST_EXPORT_H_
