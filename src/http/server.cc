#include "http/server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <list>
#include <optional>
#include <stdexcept>
#include <thread>

#include "core/thread_priority.h"
#include "http/acceptors.h"
#include "http/client_watch.h"
#include "http/draining_read.h"
#include "http/event_loop.h"
#include "http/lingering_close.h"
#include "http/request_reading.h"
#include "http/server_tls.h"
#include "http/socket_deadline.h"
#include "http/wire_format.h"

namespace gatehouse {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::experimental::awaitable_operators::operator&&;

using request_reading::CheckFraming;
using request_reading::CheckHost;
using request_reading::HeaderProgress;
using request_reading::HoldsCompleteHeader;
using request_reading::kHeaderLimit;
using request_reading::kReadBufferLimit;
using request_reading::ParseHeader;
using request_reading::RequestParser;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Responses to pipelined requests are gathered up to this size before one write.
constexpr std::size_t kWriteBatchLimit = 64 * 1024;
constexpr std::chrono::seconds kRequestTimeout{30};
constexpr std::chrono::seconds kTlsHandshakeTimeout{10};
// How long a TLS connection waits for the client's close_notify after sending its own.
constexpr std::chrono::seconds kTlsShutdownTimeout{2};

// Its reads wait for epoll once the socket is empty (http/draining_read.h).
using PlainStream = DrainingSocket<tcp::socket>;
using TlsStream = beast::ssl_stream<PlainStream>;

struct Connection {
  explicit Connection(tcp::socket& tcp) : socket(&tcp), deadline(tcp) {}
  tcp::socket* socket;      // the TCP layer, under TLS too
  SocketDeadline deadline;  // bounds each read, write and handshake
  bool idle = true;         // waiting for the first byte of a request, nothing owed to the client
};

// One event loop, its acceptor and its connections; touched only from its own thread.
struct Worker {
  asio::io_context io{1};
  std::optional<tcp::acceptor> acceptor;
  std::list<Connection*> connections;
  bool stopping = false;
};

// Keeps a connection listed in its worker for exactly as long as it lives, however its
// coroutine ends.
class ConnectionRegistration {
 public:
  ConnectionRegistration(Worker& worker, Connection* connection)
      : worker_(worker),
        position_(worker.connections.insert(worker.connections.end(), connection)) {}
  ~ConnectionRegistration() { worker_.connections.erase(position_); }
  ConnectionRegistration(const ConnectionRegistration&) = delete;
  ConnectionRegistration& operator=(const ConnectionRegistration&) = delete;

 private:
  Worker& worker_;
  std::list<Connection*>::iterator position_;
};

template <typename Stream>
tcp::socket& TcpLayer(Stream& stream) {
  return beast::get_lowest_layer(stream);
}

// A read error that only means the client left or went quiet: no answer is owed.
bool IsCleanClose(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == beast::error::timeout || ec == asio::error::operation_aborted ||
         ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated;
}

}  // namespace

struct HttpServer::State {
  ServerOptions options;
  HttpHandler handler;
  std::vector<std::unique_ptr<Worker>> workers;
  std::optional<asio::signal_set> signals;
  std::optional<asio::thread_pool> blocking_pool;
  std::shared_ptr<asio::ssl::context> tls;  // set when serving HTTPS
  std::atomic<bool> stopped{false};

  // Runs `work` on the blocking pool and resumes the caller on its own event loop.
  template <typename Work>
  asio::awaitable<void> Blocking(Work work) {
    co_await asio::co_spawn(
        blocking_pool->get_executor(),
        [&work]() -> asio::awaitable<void> {
          YieldToEventLoops();
          work();
          co_return;
        },
        asio::use_awaitable);
  }
  // Writes `out` (when not empty) within the write timeout and clears it. False on failure.
  template <typename Stream>
  asio::awaitable<bool> Write(Connection& connection, Stream& stream, std::string& out);
  // Sends `response`, whose body comes from its BodySource: chunked for HTTP/1.1, delimited by
  // closing the connection for HTTP/1.0. True when the connection may serve another request.
  template <typename Stream>
  asio::awaitable<bool> StreamBody(Connection& connection, Stream& stream, HttpResponse& response,
                                   bool keep_alive, bool chunked);
  // Appends `chunk` and then `rest` to `out` (as one HTTP chunk when `chunked`, with the end
  // marker after the last piece) and writes `out`. False when the write failed.
  template <typename Stream>
  asio::awaitable<bool> WriteBody(Connection& connection, Stream& stream, std::string& out,
                                  BodyPiece piece, const std::string& chunk,
                                  const std::string& rest, bool chunked);

  asio::awaitable<void> Accept(Worker& worker);
  // Owns one accepted connection: the TLS handshake and close when serving HTTPS.
  asio::awaitable<void> Connect(Worker& worker, tcp::socket socket);
  // Serves requests on `stream` until the connection ends. True when the connection may still
  // be closed gracefully (false after a lingering close).
  template <typename Stream>
  asio::awaitable<bool> Serve(Worker& worker, Connection& connection, Stream& stream,
                              const std::string& remote_address, bool secure);
  HttpResponse TransportError(int status) const;
  // The client address of a request from the trusted proxy `peer`: every X-Forwarded-For
  // header, in order, read as one list.
  std::string ClientAddressFor(const HttpRequest& request, const std::string& peer) const;
};

std::string HttpServer::State::ClientAddressFor(const HttpRequest& request,
                                                const std::string& peer) const {
  std::string forwarded;
  for (const auto& [name, value] : request.headers) {
    if (!beast::iequals(name, "X-Forwarded-For")) continue;
    if (!forwarded.empty()) forwarded += ',';
    forwarded += value;
  }
  return ClientAddressOf(peer, forwarded, options.trusted_proxies);
}

HttpResponse HttpServer::State::TransportError(int status) const {
  HttpResponse response;
  response.status = status;
  if (options.transport_error) options.transport_error(status, response);
  return response;
}

asio::awaitable<void> HttpServer::State::Accept(Worker& worker) {
  for (;;) {
    auto [ec, socket] = co_await worker.acceptor->async_accept(kAwait);
    if (worker.stopping) co_return;
    if (ec) {
      // Out of descriptors or memory: back off instead of spinning on the failing accept.
      asio::steady_timer pause(worker.io, std::chrono::milliseconds(50));
      co_await pause.async_wait(kAwait);
      continue;
    }
    asio::co_spawn(worker.io, Connect(worker, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::State::Connect(Worker& worker, tcp::socket socket) {
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  const auto peer = socket.remote_endpoint(ignored);
  const std::string remote_address = ignored ? std::string() : peer.address().to_string();
  if (!tls) {
    PlainStream stream(std::move(socket));
    stream.ReportReceiveQueue();
    Connection connection(stream);
    const ConnectionRegistration registration(worker, &connection);
    if (co_await Serve(worker, connection, stream, remote_address, false)) {
      stream.shutdown(tcp::socket::shutdown_send, ignored);
      // Closed with unread bytes (a request pipelined after a "Connection: close", or sent
      // during a stop), the socket would send a reset, and the client's kernel would drop the
      // answers not yet read: drain first, as after a 400.
      if (stream.available(ignored) > 0) {
        co_await LingeringClose(*connection.socket, connection.deadline);
      }
    }
    co_return;
  }
  TlsStream stream(std::move(socket), *tls);
  stream.next_layer().ReportReceiveQueue();
  Connection connection(TcpLayer(stream));
  const ConnectionRegistration registration(worker, &connection);
  connection.deadline.ExpireAfter(kTlsHandshakeTimeout);
  auto [handshake_error] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAwait);
  // Plain HTTP, a port scan or an unknown certificate authority at the client: just close.
  if (connection.deadline.Settle(handshake_error)) co_return;
  if (co_await Serve(worker, connection, stream, remote_address, true)) {
    connection.deadline.ExpireAfter(kTlsShutdownTimeout);
    co_await stream.async_shutdown(kAwait);
    connection.deadline.Settle({});
  }
}

template <typename Stream>
asio::awaitable<bool> HttpServer::State::Write(Connection& connection, Stream& stream,
                                               std::string& out) {
  if (out.empty()) co_return true;
  if (options.before_send) options.before_send();
  connection.deadline.ExpireAfter(options.write_timeout);
  auto [write_error, written] = co_await asio::async_write(stream, asio::buffer(out), kAwait);
  out.clear();
  co_return !connection.deadline.Settle(write_error);
}

template <typename Stream>
asio::awaitable<bool> HttpServer::State::Serve(Worker& worker, Connection& connection,
                                               Stream& stream, const std::string& remote_address,
                                               bool secure) {
  // Decided once per connection: only a trusted peer's X-Forwarded-For is ever read.
  const auto peer_address = IpAddress::Parse(remote_address);
  const bool peer_is_trusted = peer_address && AnyContains(options.trusted_proxies, *peer_address);
  beast::flat_buffer buffer(kReadBufferLimit);
  std::string out;  // responses not yet written (pipelined requests are answered together)
  bool keep_alive = true;
  while (keep_alive) {
    RequestParser parser;
    parser.body_limit(options.max_body);
    parser.header_limit(kHeaderLimit);
    connection.idle = out.empty() && buffer.size() == 0;
    if (worker.stopping && connection.idle) break;
    // Bounds the wait for the request and the reading of all of it, header and body, so that a
    // client trickling it is cut off all the same.
    connection.deadline.ExpireAfter(connection.idle ? options.idle_timeout : kRequestTimeout);
    // Read inline rather than in a coroutine of its own: no frame to allocate per request.
    boost::system::error_code read_error = bhttp::error::need_more;
    HeaderProgress header;
    if (buffer.size() > 0) read_error = ParseHeader(buffer, parser, header);
    while (read_error == bhttp::error::need_more) {
      auto [ec, read] =
          co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, 65536)), kAwait);
      if (ec == asio::error::eof && (parser.got_some() || buffer.size() > 0)) {
        read_error = bhttp::error::partial_message;
      } else if (ec == asio::error::eof) {
        read_error = bhttp::error::end_of_stream;
      } else if (ec) {
        read_error = ec;
      } else {
        buffer.commit(read);
        read_error = ParseHeader(buffer, parser, header);
      }
    }
    connection.idle = false;
    if (!read_error) read_error = CheckFraming(parser);
    if (!read_error) read_error = CheckHost(parser);

    if (!read_error && !parser.is_done()) {
      // Answers owed to earlier pipelined requests go out before a body that may be slow to
      // come, followed by a 100 Continue when the client waits for one. An HTTP/1.0 client
      // would take any answer for the final one (RFC 9110 §10.1.1), so it gets none.
      if (parser.version() >= 11 && parser.expects_continue()) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        out += kContinue;
      }
      if (!out.empty()) {
        if (!co_await Write(connection, stream, out)) break;
        connection.deadline.ExpireAfter(kRequestTimeout);
      }
      std::size_t body_bytes = 0;
      std::tie(read_error, body_bytes) = co_await bhttp::async_read(stream, buffer, parser, kAwait);
    }
    read_error = connection.deadline.Settle(read_error);
    if (read_error) {
      // A clean close between requests needs no answer beyond those owed (after a timeout the
      // stream has closed the socket already, and the write finds nothing to write to).
      if (IsCleanClose(read_error)) {
        co_await Write(connection, stream, out);
        break;
      }
      const int status = read_error == bhttp::error::body_limit ? 413 : 400;
      AppendResponse(out, TransportError(status), false);
      if (co_await Write(connection, stream, out)) {
        co_await LingeringClose(*connection.socket, connection.deadline);
      }
      co_return false;
    }
    // Every Connection field of the header counts (RFC 9110 §7.6.1 makes them one list).
    keep_alive = parser.keeps_alive() && !worker.stopping;
    HttpRequest request = parser.TakeRequest();
    request.remote_address =
        peer_is_trusted ? ClientAddressFor(request, remote_address) : remote_address;
    request.secure = secure;
    const bool head = request.method == "HEAD";
    HttpResponse response;
    if (options.on_request) options.on_request();
    handler(request, response);
    // Answers owed to earlier pipelined requests go out before work that may wait.
    if ((response.async || response.deferred) && !out.empty() &&
        !co_await Write(connection, stream, out)) {
      break;
    }
    if (response.async) {
      auto async = std::move(response.async);
      response.async = nullptr;
      // Named, not temporaries in the co_await expression (g++ 12 mis-destroys those).
      const std::function<void(std::function<void()>)> start = [&](std::function<void()> done) {
        async(response, std::move(done));
      };
      const bool present = co_await AwaitCompletion(*connection.socket, start, response.cancel);
      response.cancel = nullptr;
      if (!present) {
        if (response.async_body) response.async_body->Abort();
        break;
      }
      keep_alive = keep_alive && !worker.stopping;
    }
    if (response.deferred) {
      auto deferred = std::move(response.deferred);
      response.deferred = nullptr;
      co_await Blocking([&] { deferred(response); });
      keep_alive = keep_alive && !worker.stopping;
    }
    if ((response.body_source || response.async_body) && head) {
      if (response.body_source) response.body_source->Abort();
      if (response.async_body) response.async_body->Abort();
      response.body_source.reset();
      response.async_body.reset();
    }
    if (response.body_source || response.async_body) {
      if (!co_await Write(connection, stream, out)) {
        if (response.body_source) response.body_source->Abort();
        if (response.async_body) response.async_body->Abort();
        break;
      }
      if (!co_await StreamBody(connection, stream, response, keep_alive, request.version >= 11)) {
        break;
      }
      continue;
    }
    AppendResponse(out, response, keep_alive, request.version, head);

    const bool more_waiting = keep_alive && buffer.size() > 0 && HoldsCompleteHeader(buffer);
    if ((!more_waiting || out.size() >= kWriteBatchLimit) &&
        !co_await Write(connection, stream, out)) {
      break;
    }
  }
  co_return true;
}

template <typename Stream>
asio::awaitable<bool> HttpServer::State::WriteBody(Connection& connection, Stream& stream,
                                                   std::string& out, BodyPiece piece,
                                                   const std::string& chunk,
                                                   const std::string& rest, bool chunked) {
  // The piece is written from where it is, between `out` and the chunk's end, not copied.
  const std::size_t size = chunk.size() + rest.size();
  std::string_view tail;
  if (chunked) {
    AppendChunkHead(out, size);
    if (piece == BodyPiece::kLast) {
      tail = size == 0 ? "0\r\n\r\n" : "\r\n0\r\n\r\n";
    } else if (size != 0) {
      tail = "\r\n";
    }
  }
  // Before the early return too: an HTTP/1.0 body ends with the close that follows its last
  // (empty) piece, and the client takes that close for the answer's end.
  if (options.before_send) options.before_send();
  if (out.empty() && size == 0 && tail.empty()) co_return true;
  connection.deadline.ExpireAfter(options.write_timeout);
  const std::array<asio::const_buffer, 4> buffers = {asio::buffer(out), asio::buffer(chunk),
                                                     asio::buffer(rest), asio::buffer(tail)};
  auto [write_error, written] = co_await asio::async_write(stream, buffers, kAwait);
  out.clear();
  co_return !connection.deadline.Settle(write_error);
}

template <typename Stream>
asio::awaitable<bool> HttpServer::State::StreamBody(Connection& connection, Stream& stream,
                                                    HttpResponse& response, bool keep_alive,
                                                    bool chunked) {
  keep_alive = keep_alive && chunked;
  std::string out;
  AppendStatusAndHeaders(out, response);
  if (chunked) out += "Transfer-Encoding: chunked\r\n";
  out += keep_alive ? "\r\n" : "Connection: close\r\n\r\n";
  std::string chunk;
  if (response.async_body) {
    std::shared_ptr<AsyncBodySource> source = response.async_body;
    // Shared with the callback, which an aborted source may still call after we have left.
    auto next = std::make_shared<std::pair<BodyPiece, std::string>>(BodyPiece::kMore, "");
    const std::string no_rest;
    StreamClientWatch watch(TcpLayer(stream), [source] { source->Abort(); });
    while (next->first == BodyPiece::kMore) {
      // The next piece is asked for only once the previous one is written: backpressure.
      // Named, not temporaries in the co_await expression (g++ 12 mis-destroys those).
      const std::function<void(std::function<void()>)> start = [&](std::function<void()> done) {
        source->Next([next, done = std::move(done)](BodyPiece piece, std::string data) {
          next->first = piece;
          next->second = std::move(data);
          done();
        });
      };
      if (!co_await watch.Await(start)) co_return false;
      const BodyPiece piece = next->first;
      if (!co_await WriteBody(connection, stream, out, piece, next->second, no_rest, chunked)) {
        if (piece == BodyPiece::kMore) source->Abort();
        co_return false;
      }
      if (piece == BodyPiece::kBroken) co_return false;
    }
    co_return keep_alive;
  }
  BodySource& source = *response.body_source;
  // A source may make later pieces on the pool meanwhile; each task it queues keeps it alive.
  const bool ahead = source.WorkAheadWith(
      [this, owner = std::weak_ptr<BodySource>(response.body_source)](std::function<void()> task) {
        asio::post(*blocking_pool, [keep = owner.lock(), task = std::move(task)] {
          if (!keep) return;  // the source is gone (it queues only while alive)
          YieldToEventLoops();
          try {
            task();
          } catch (const std::exception&) {
          }
        });
      });
  std::string rest, next_chunk, next_rest;
  const auto make = [&source](std::string& into, std::string& into_rest, BodyPiece& piece) {
    try {
      piece = source.NextInTwo(into, into_rest);
    } catch (const std::exception&) {
      into.clear();
      into_rest.clear();
      piece = BodyPiece::kBroken;
    }
  };
  auto piece = BodyPiece::kMore;
  co_await Blocking([&] { make(chunk, rest, piece); });
  while (piece == BodyPiece::kMore) {
    auto next_piece = BodyPiece::kMore;
    // Named, not temporaries in the co_await expression (g++ 12 mis-destroys those).
    auto write = WriteBody(connection, stream, out, piece, chunk, rest, chunked);
    if (ahead) {
      // The source makes pieces while this one is written: the next is asked for once it is,
      // here when it is made already, so that only one piece at a time is held for the write.
      if (!co_await std::move(write)) {
        source.Abort();
        co_return false;
      }
      std::optional<BodyPiece> ready;
      try {
        ready = source.TryNextInTwo(next_chunk, next_rest);
      } catch (const std::exception&) {
        next_chunk.clear();
        next_rest.clear();
        ready = BodyPiece::kBroken;
      }
      if (ready) {
        next_piece = *ready;
      } else {
        co_await Blocking([&] { make(next_chunk, next_rest, next_piece); });
      }
    } else {
      // Each piece after the first is made on the pool while the one before it is written, so
      // making and sending overlap.
      auto made = Blocking([&] { make(next_chunk, next_rest, next_piece); });
      if (!co_await (std::move(write) && std::move(made))) {
        if (next_piece == BodyPiece::kMore) source.Abort();
        co_return false;
      }
    }
    chunk.swap(next_chunk);
    rest.swap(next_rest);
    piece = next_piece;
    if (ahead) {
      // The written piece's buffers go now, not once the next piece is written: a client that
      // stops reading pins one piece here, and the source's held chunks.
      next_chunk = std::string();
      next_rest = std::string();
    }
  }
  if (piece == BodyPiece::kBroken) source.Abort();  // stops any work ahead at once
  if (!co_await WriteBody(connection, stream, out, piece, chunk, rest, chunked)) co_return false;
  co_return keep_alive && (piece == BodyPiece::kLast);
}

HttpServer::HttpServer(ServerOptions options, HttpHandler handler)
    : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  state_->handler = std::move(handler);
  int threads = state_->options.threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < threads; ++i) state_->workers.push_back(std::make_unique<Worker>());
  state_->blocking_pool.emplace(std::max(1, state_->options.blocking_threads));
}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::Listen() {
  RaiseOpenFileLimit();
  const ServerOptions& options = state_->options;
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    state_->tls = MakeServerTlsContext(options.tls_cert, options.tls_key);
  }
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) throw std::runtime_error("invalid listen address " + options.host);
  tcp::endpoint endpoint(address, options.port);
  CheckAddressIsFree(endpoint);
  for (auto& worker : state_->workers) {
    worker->acceptor.emplace(OpenSharedAcceptor(worker->io, endpoint));
    endpoint.port(worker->acceptor->local_endpoint().port());
  }
  return endpoint.port();
}

void HttpServer::Run() {
  Worker& first = *state_->workers.front();
  state_->signals.emplace(first.io, SIGINT, SIGTERM);
  state_->signals->async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    spdlog::info(
        "stopping: no new connections; the calls in flight finish (a second SIGINT or SIGTERM "
        "ends the process at once; the request journal keeps what was not stored)");
    Stop();
  });
  for (auto& worker : state_->workers) {
    asio::co_spawn(worker->io, state_->Accept(*worker), asio::detached);
  }
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < state_->workers.size(); ++i) {
    threads.emplace_back([this, worker = state_->workers[i].get()] {
      SetCurrentEventLoop(&worker->io);
      if (state_->options.on_loop_start) state_->options.on_loop_start();
      worker->io.run();
      if (state_->options.on_loop_stop) state_->options.on_loop_stop();
      SetCurrentEventLoop(nullptr);
    });
  }
  SetCurrentEventLoop(&first.io);
  if (state_->options.on_loop_start) state_->options.on_loop_start();
  first.io.run();
  if (state_->options.on_loop_stop) state_->options.on_loop_stop();
  SetCurrentEventLoop(nullptr);
  for (auto& thread : threads) thread.join();
  state_->blocking_pool->join();
}

void HttpServer::Stop() {
  if (state_->stopped.exchange(true)) return;
  for (auto& worker : state_->workers) {
    asio::post(worker->io, [this, worker = worker.get()] {
      worker->stopping = true;
      boost::system::error_code ignored;
      if (worker->acceptor) worker->acceptor->close(ignored);
      for (Connection* connection : worker->connections) {
        if (connection->idle) connection->socket->cancel(ignored);
      }
      if (worker == state_->workers.front().get() && state_->signals) {
        // Their default action again: a second signal ends the process at once, where waiting
        // for long streams (up to a provider's timeout) would not do.
        state_->signals->clear(ignored);
        state_->signals->cancel(ignored);
      }
    });
  }
}

}  // namespace gatehouse
