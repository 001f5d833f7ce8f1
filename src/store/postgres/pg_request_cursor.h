#ifndef GATEHOUSE_STORE_POSTGRES_PG_REQUEST_CURSOR_H_
#define GATEHOUSE_STORE_POSTGRES_PG_REQUEST_CURSOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/error.h"
#include "store/postgres/pg_pool.h"
#include "store/store.h"

namespace gatehouse {

// How many records the next page of a walk asks for, after a page of `rows` records whose
// texts (prompt, input, output) took `text_bytes`: as many as fit in about 8 MiB at that size,
// between 4 and 1024. A page is read whole into memory (libpq), and a record can carry megabytes
// of text; rows = 0 (no page yet) gives the first page's 16.
std::int64_t NextPageRows(std::int64_t rows, std::size_t text_bytes);

// Opens a cursor over `query`. It reads a page of records per statement, each on a connection
// of `pool` leased for that statement only (a slow reader holds none between pages), and
// continues after the last record of the previous page (keyset). `pool` must outlive it.
Result<std::unique_ptr<RequestCursor>> OpenPgRequestCursor(pg::ConnectionPool& pool,
                                                           const RequestQuery& query);

// Opens the parts of the walk of `query` (no skip, no count). The parts' cursors read like
// OpenPgRequestCursor's on connections of `pool`; at most `max_open` of them are open at once.
// `pool` must outlive the parts.
Result<std::unique_ptr<RequestParts>> OpenPgRequestParts(pg::ConnectionPool& pool,
                                                         const RequestQuery& query,
                                                         std::size_t max_open);

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_POSTGRES_PG_REQUEST_CURSOR_H_
