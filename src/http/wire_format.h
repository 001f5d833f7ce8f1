#ifndef GATEHOUSE_HTTP_WIRE_FORMAT_H_
#define GATEHOUSE_HTTP_WIRE_FORMAT_H_

#include <string>
#include <string_view>

#include "http/message.h"

namespace gatehouse {

// How the server formats responses by hand into one buffer (appending, never clearing `out`).

// The status line and the headers of `response` (Content-Type first), without the blank line.
void AppendStatusAndHeaders(std::string& out, const HttpResponse& response);

// A whole response with Content-Length. `keep_alive` false adds `Connection: close`; true on an
// HTTP/1.0 request (`version` 10) adds `Connection: keep-alive`, which HTTP/1.0 clients need to
// keep the connection. `head`: the answer to a HEAD request, with the length of the body it
// would have had.
void AppendResponse(std::string& out, const HttpResponse& response, bool keep_alive,
                    int version = 11, bool head = false);

// `data` as one chunk of a chunked body; nothing when it is empty.
void AppendChunk(std::string& out, std::string_view data);
// The size line that starts a chunk of `size` bytes (the chunk then ends with CRLF); nothing
// when `size` is 0.
void AppendChunkHead(std::string& out, std::size_t size);

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_WIRE_FORMAT_H_
