#ifndef GATEHOUSE_HTTP_UPSTREAM_CLIENT_H_
#define GATEHOUSE_HTTP_UPSTREAM_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/upstream.h"

namespace gatehouse {

struct UpstreamPoolOptions {
  // Idle keep-alive connections kept per upstream host and per event loop; beyond this a
  // finished connection is closed.
  std::size_t max_idle_per_host = 256;
  // An idle connection is closed once it has been idle this long (by the loop's deadline sweep,
  // whether or not another call comes).
  std::chrono::milliseconds idle_timeout{30000};
  // How long a name lookup is fresh (getaddrinfo reports no TTL). A stale answer is still used,
  // at once, while the name is looked up again in the background (http/dns_cache.h).
  std::chrono::milliseconds dns_ttl{30000};
  // A connection idle for at least this long is checked for the upstream's close (a MSG_PEEK,
  // a system call) before it is reused. Below it, it is reused at once: under load that saves
  // the call, and an upstream's idle timeout rarely falls in so short a window. One that does
  // (or that closes after each answer without saying so) fails the call with 502, unless its
  // close was a reset, which fails the send and sends the call to a fresh connection.
  std::chrono::microseconds peek_after_idle{1000};
  // Tests: runs on the lookup thread before each name lookup (to hold one up).
  std::function<void(const std::string& host)> before_lookup;
  // Tests: answers each name lookup with these IP addresses, in this order, instead of
  // getaddrinfo (a name with several addresses, one of which does not answer).
  std::function<std::vector<std::string>(const std::string& host)> addresses_of;
};

// Pool figures for /metrics. Counters only grow; gauges are current values.
struct UpstreamPoolFigures {
  std::uint64_t open = 0;     // gauge: connections open (in use or idle)
  std::uint64_t idle = 0;     // gauge: idle connections kept for reuse
  std::uint64_t created = 0;  // counter: connections opened (TCP connected; failed tries are not)
  std::uint64_t reused = 0;   // counter: calls sent on a pooled connection
};

// The Boost.Beast/Asio UpstreamClient: HTTP/1.1 keep-alive connections pooled per event loop
// and per upstream host (health-checked on reuse; a call on a reused connection that turns out
// closed before anything was sent is retried once on a fresh one), TLS for https URLs with one
// SSL_CTX per host loaded once (system CA store, host-name verification, session resumption),
// name lookups on threads of their own (http/name_lookups.h: a host whose lookup hangs holds up
// no other host's) cached (refreshed in the background after dns_ttl), and the
// first-byte, between-reads and whole-call timeouts of UpstreamRequest. Open() must be called on
// an HttpServer event loop thread (CurrentEventLoop()). Thread-safe.
class AsioUpstreamClient final : public UpstreamClient {
 public:
  explicit AsioUpstreamClient(UpstreamPoolOptions options = {});
  ~AsioUpstreamClient() override;
  AsioUpstreamClient(const AsioUpstreamClient&) = delete;
  AsioUpstreamClient& operator=(const AsioUpstreamClient&) = delete;

  std::shared_ptr<UpstreamExchange> Open() override;
  UpstreamPoolFigures Figures() const;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_UPSTREAM_CLIENT_H_
