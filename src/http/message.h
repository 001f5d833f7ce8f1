#ifndef GATEHOUSE_HTTP_MESSAGE_H_
#define GATEHOUSE_HTTP_MESSAGE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/body_source.h"

namespace gatehouse {

// One parsed HTTP request, free of any HTTP library type so that handlers compile fast.
struct HttpRequest {
  std::string method;  // upper case as sent, e.g. "GET"
  int version = 11;    // 10 for HTTP/1.0, 11 for HTTP/1.1
  std::string path;    // as sent (percent-encoded), without the query; the router decodes it
  std::string query;   // raw text after '?', not decoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The socket peer's address as text ("127.0.0.1", "::1"); empty when unknown.
  std::string remote_address;
  // True when the request came over TLS that this server terminated itself.
  bool secure = false;

  // The first header named `name` (case-insensitive); empty when absent.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  // Static text (a literal, or ContentTypeOf's): never a string built for one response.
  std::string_view content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // beyond type and length
  std::string body;
  // When set, the body is streamed from here and `body` is ignored; Next() runs on the
  // server's small blocking pool.
  std::shared_ptr<BodySource> body_source;
  // When set, the body is streamed from here (on the event loop) and `body` is ignored.
  std::shared_ptr<AsyncBodySource> async_body;
  // When set, the server runs it on its small blocking pool and sends the response it completes:
  // for handlers that must block (exports, store reads). Never for network waits: see `async`.
  // The request stays alive until it has finished.
  std::function<void(HttpResponse&)> deferred;
  // When set, the server calls it on the connection's event loop once the handler has returned,
  // with a completion to call exactly once, on that same loop, when the response is complete
  // (possibly before `async` returns). It must not block: it starts asynchronous work (an
  // upstream call) whose callbacks run on the loop. The server keeps the response alive until
  // the completion has run.
  std::function<void(HttpResponse&, std::function<void()> done)> async;
  // Called on the event loop when the client goes away while `async` has not completed yet;
  // the completion must still be called (soon) after it.
  std::function<void()> cancel;
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

// Decodes %XX escapes (and '+' as space when `plus_is_space`); a malformed escape is kept
// literally.
std::string PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_MESSAGE_H_
