#ifndef GATEHOUSE_HTTP_BLOCKING_POST_H_
#define GATEHOUSE_HTTP_BLOCKING_POST_H_

#include <chrono>
#include <string>

namespace gatehouse {

// The outcome of one POST: the response status, or 0 with what went wrong (for the log).
struct PostOutcome {
  int status = 0;
  std::string failure;
};

// One blocking HTTP/1.1 POST of `body` (as application/json) to an http:// or https:// URL
// (certificates and host name verified against the system store), on a connection of its own,
// each wait bounded by `timeout`. For background senders such as the limit webhook; never on
// an event loop. Thread-safe.
PostOutcome BlockingPostJson(const std::string& url, const std::string& body,
                             std::chrono::milliseconds timeout);

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_BLOCKING_POST_H_
