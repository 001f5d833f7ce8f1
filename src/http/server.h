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
  // A connection with nothing owed waits this long for the next request (its whole header and
  // body when the client had sent nothing yet).
  std::chrono::seconds idle_timeout{60};
  // Each write to the client (a response, or one piece of a streamed body) must complete within
  // this; a client that stops reading is disconnected and its response (an export's cursor and
  // buffers) freed.
  std::chrono::milliseconds write_timeout{30000};
  // PEM files: when both are set the server speaks HTTPS only (TLS 1.2+); Listen() throws when
  // they cannot be loaded.
  std::string tls_cert;
  std::string tls_key;
  // Threads that run HttpResponse::deferred and BodySource::Next (exports): genuinely blocking
  // work only. Upstream calls never use them (HttpResponse::async runs on the event loops).
  int blocking_threads = 8;
  // Fills the response for failures found before a handler runs: 400 (malformed request),
  // 413 (body over max_body). Lets the API layer keep its error envelope.
  std::function<void(int status, HttpResponse&)> transport_error;
  // Peers whose X-Forwarded-For names the client (API.md §11): HttpRequest::remote_address is
  // then ClientAddressOf(peer, X-Forwarded-For, trusted_proxies), else the peer.
  std::vector<CidrBlock> trusted_proxies;
  // Optional; each runs on an event loop thread: `on_loop_start` once before the loop serves,
  // `on_request` for each request read, before its handler runs, `before_send` before every
  // write of response bytes to a client and before an HTTP/1.0 streamed body's closing end (e.g.
  // to make durable what those bytes acknowledge),
  // `on_loop_stop` once after the loop has stopped. None may block for long.
  std::function<void()> on_loop_start;
  std::function<void()> on_loop_stop;
  std::function<void()> on_request;
  std::function<void()> before_send;
};

// HTTP/1.1 server (optionally over TLS): keep-alive (HTTP/1.0 too, when asked for), pipelining
// (responses to requests that arrived together are written together), TCP_NODELAY, idle timeouts,
// and a graceful stop on SIGINT/SIGTERM in which in-flight requests finish and idle connections
// close. One event loop per thread, each with its own SO_REUSEPORT acceptor, so connections never
// migrate between threads. Asynchronous handlers (HttpResponse::async, AsyncBodySource) run on the
// connection's loop, which watches the client meanwhile and cancels them if it leaves. Work that
// blocks (HttpResponse::deferred, BodySource::Next) runs on a separate small pool. Listen() raises
// the process's open-file soft limit to its hard limit and logs both. Header lines folded with
// obs-fold are refused with 400; a request refused before its body was read (413, 400) gets its
// answer followed by a lingering close (http/lingering_close.h).
class HttpServer {
 public:
  HttpServer(ServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads the TLS files when set, refuses an address that any socket already holds ("address
  // HOST:PORT is already in use"), binds and listens; returns the bound port. Throws
  // std::runtime_error on failure.
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
