#ifndef GATEHOUSE_USAGE_REQUEST_EXPORT_H_
#define GATEHOUSE_USAGE_REQUEST_EXPORT_H_

#include <memory>
#include <string>

#include "core/error.h"
#include "core/time_zone.h"
#include "store/store.h"

namespace gatehouse {

// Who asks for an export, as its scope rules need it.
struct ExportScope {
  std::string organization_id;
  std::string project_id;  // the caller's own project; empty for an organization token
};

enum class UsageInterval { kNone, kHour, kDay };

// A usage summary (API.md §8): groups ordered by requests (most first), each with its totals
// and, when an interval was asked for, a series of the buckets that had calls, oldest first.
struct UsageSummary {
  struct Point {
    TimeMs start_ms = 0;
    UsageTotals totals;
  };
  struct Group {
    std::string key;
    std::string label;
    std::string project_id;  // a token's project, when grouped by token
    std::string project_name;
    UsageTotals totals;
    std::vector<Point> series;
  };
  std::vector<Group> groups;
};

// The scope rules of reading request records — the export (API.md §4) and the usage summary
// (§8). Thread-safe; `store` must outlive it.
class RequestExporter {
 public:
  explicit RequestExporter(Store& store) : store_(store) {}

  // Opens a cursor over the records `query` selects within what `scope` may see. The query's
  // project_id is the project asked for, or empty: an organization token may ask for any project
  // of its organization (404 id 2005 for others) or none (all of them); a project token sees
  // its own project only (403 id 7 when it asks for another).
  Result<std::unique_ptr<RequestCursor>> Open(const ExportScope& scope, RequestQuery query);
  // The same walk in parts that separate threads can read (Store::OpenRequestParts), for a
  // query without skip and count.
  Result<std::unique_ptr<RequestParts>> OpenParts(const ExportScope& scope, RequestQuery query,
                                                  std::size_t max_open);

  // Adds up the records `query` selects within what `scope` may see (the same project rules),
  // in buckets of `interval` (days start at midnight in `zone`).
  Result<UsageSummary> Summarize(const ExportScope& scope, UsageSummaryQuery query,
                                 UsageInterval interval, const TimeZone& zone);

 private:
  // Applies the project rules of `scope` to the project asked for.
  Status Scope(const ExportScope& scope, std::string& project_id);

  Store& store_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_REQUEST_EXPORT_H_
