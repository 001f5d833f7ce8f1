#ifndef GATEHOUSE_HTTP_SERVER_H_
#define GATEHOUSE_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/ip_address.h"
#include "http/message.h"

namespace gatehouse {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port
  std::size_t max_body = 1 << 20;
  int threads = 0;  // 0 = one per core
  std::chrono::seconds idle_timeout{60};
  // Threads that run HttpResponse::deferred and BodySource::Next (exports): genuinely blocking
  // work only. Upstream calls never use them (HttpResponse::async runs on the event loops).
  int blocking_threads = 8;
  // Fills the response for failures found before a handler runs: 400 (malformed request),
  // 413 (body over max_body). Lets the API layer keep its error envelope.
  std::function<void(int status, HttpResponse&)> transport_error;
  // Peers whose X-Forwarded-For names the client (API.md §11): HttpRequest::remote_address is
  // then ClientAddressOf(peer, X-Forwarded-For, trusted_proxies), else the peer.
  std::vector<CidrBlock> trusted_proxies;
};

// HTTP/1.1 server: keep-alive, pipelining (responses to requests that arrived together are
// written together), TCP_NODELAY, idle timeouts, and a graceful stop on SIGINT/SIGTERM in which
// in-flight requests finish and idle connections close. One event loop per thread, each with
// its own SO_REUSEPORT acceptor, so connections never migrate between threads. Asynchronous
// handlers (HttpResponse::async, AsyncBodySource) run on the connection's loop, which watches
// the client meanwhile and cancels them if it leaves. Work that blocks
// (HttpResponse::deferred, BodySource::Next) runs on a separate small pool. Listen() raises the
// process's open-file soft limit to its hard limit and logs both.
class HttpServer {
 public:
  HttpServer(ServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the bound port. Throws std::runtime_error on failure.
  std::uint16_t Listen();
  // Serves until Stop() or a SIGINT/SIGTERM, then returns once every connection has closed.
  void Run();
  // Thread-safe; may be called from any thread, also before Run().
  void Stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_SERVER_H_
