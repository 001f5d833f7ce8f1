#ifndef GATEHOUSE_STORE_SQLITE_SQLITE_REQUEST_CURSOR_H_
#define GATEHOUSE_STORE_SQLITE_SQLITE_REQUEST_CURSOR_H_

#include <cstddef>
#include <memory>
#include <string>

#include "core/error.h"
#include "store/store.h"

namespace gatehouse {

// Opens a cursor over `query` on a read-only connection of its own to the database at `path`.
Result<std::unique_ptr<RequestCursor>> OpenSqliteRequestCursor(const std::string& path,
                                                               const RequestQuery& query);

// Opens the parts of the walk of `query` (no skip, no count): each open part reads on one of at
// most `max_open` read-only connections to the database at `path`, opened as they are needed.
Result<std::unique_ptr<RequestParts>> OpenSqliteRequestParts(const std::string& path,
                                                             const RequestQuery& query,
                                                             std::size_t max_open);

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_SQLITE_SQLITE_REQUEST_CURSOR_H_
