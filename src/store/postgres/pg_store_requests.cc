// Placeholders until this part lands on PostgreSQL.
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"

namespace gatehouse {

namespace {

std::unexpected<Error> NotYet(const char* what) {
  return Fail(ErrorCode::kInternal, {}, std::string(what) + " is not on PostgreSQL yet");
}

}  // namespace

Status PgStore::AppendRequests(const std::vector<RequestRecord>& records, RecordArrival arrival) {
  return NotYet("AppendRequests");
}

Result<std::unique_ptr<RequestCursor>> PgStore::OpenRequestCursor(const RequestQuery& query) {
  return NotYet("OpenRequestCursor");
}

Result<std::unique_ptr<RequestParts>> PgStore::OpenRequestParts(const RequestQuery& query,
                                                                std::size_t max_open) {
  return NotYet("OpenRequestParts");
}

Result<std::vector<UsageRow>> PgStore::SummarizeUsage(const UsageSummaryQuery& query) {
  return NotYet("SummarizeUsage");
}

Status PgStore::RollUpIn(pg::Connection&) { return NotYet("RollUpIn"); }

}  // namespace gatehouse
