#include "http/server.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <cstdio>
#include <list>
#include <optional>
#include <stdexcept>
#include <thread>

#include "http/event_loop.h"

namespace gatehouse {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 64 * 1024;
// Responses to pipelined requests are gathered up to this size before one write.
constexpr std::size_t kWriteBatchLimit = 64 * 1024;
constexpr std::chrono::seconds kRequestTimeout{30};
// How long an asynchronous response may take before the server starts watching its client.
constexpr std::chrono::milliseconds kWatchGrace{50};

struct Connection {
  beast::tcp_stream* stream;
  bool idle;  // waiting for the first byte of a request, nothing owed to the client
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

void AppendStatusAndHeaders(std::string& out, const HttpResponse& response) {
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  const auto reason = bhttp::obsolete_reason(bhttp::int_to_status(response.status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  if (!response.content_type.empty()) {
    out += "Content-Type: ";
    out += response.content_type;
    out += "\r\n";
  }
  for (const auto& [name, value] : response.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
}

// `head`: the answer to a HEAD request, with the length of the body it would have had.
void AppendResponse(std::string& out, const HttpResponse& response, bool keep_alive,
                    bool head = false) {
  AppendStatusAndHeaders(out, response);
  out += "Content-Length: ";
  out += std::to_string(response.body.size());
  out += keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
  if (!head) out += response.body;
}

void AppendChunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char size[24];
  const int length = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.append(size, static_cast<std::size_t>(length));
  out += data;
  out += "\r\n";
}

// True when `buffer` seems to hold the start of a complete request, so that answering it in
// the same write is worth the wait.
bool HoldsCompleteHeader(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  const std::string_view text(static_cast<const char*>(data.data()), data.size());
  return text.find("\r\n\r\n") != std::string_view::npos;
}

// One asynchronous completion the connection waits for (an `async` handler, the next piece of
// an AsyncBodySource). Shared with the callbacks, which may run after the connection is gone.
struct Completion {
  explicit Completion(const asio::any_io_executor& executor)
      : timer(executor, std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer timer;
  bool done = false;
  bool client_gone = false;
};

// Watches `socket` for the client closing it while the connection waits on `completion`; calls
// `on_gone` once if it does. Pipelined bytes end the watch (they are read later).
void WatchForClose(tcp::socket& socket, std::shared_ptr<Completion> completion,
                   std::function<void()> on_gone) {
  const int fd = socket.native_handle();
  socket.async_wait(tcp::socket::wait_read, [fd, &socket, completion, on_gone = std::move(on_gone)](
                                                const boost::system::error_code& ec) mutable {
    // After an error or the end of the wait the socket may be gone: touch nothing.
    if (ec || completion->done) return;
    char byte;
    const ssize_t peeked = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (peeked > 0) return;
    if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      WatchForClose(socket, std::move(completion), std::move(on_gone));
      return;
    }
    completion->client_gone = true;
    completion->timer.cancel();
    if (on_gone) on_gone();
  });
}

// Runs `start` with a completion callback and waits on the loop until it is called, watching
// the client meanwhile: if it leaves, `on_gone` runs and the wait goes on only when
// `wait_after_gone` (the callback then still touches the caller's state). True when the client
// is still there.
asio::awaitable<bool> AwaitCompletion(tcp::socket& socket,
                                      const std::function<void(std::function<void()>)>& start,
                                      const std::function<void()>& on_gone, bool wait_after_gone) {
  auto completion = std::make_shared<Completion>(socket.get_executor());
  start([completion] {
    completion->done = true;
    completion->timer.cancel();
  });
  if (completion->done) co_return true;
  // Most completions come within the grace period; watching the socket costs a system call, so
  // it starts only after it.
  completion->timer.expires_after(kWatchGrace);
  co_await completion->timer.async_wait(kAwait);
  if (completion->done) co_return true;
  completion->timer.expires_at(std::chrono::steady_clock::time_point::max());
  WatchForClose(socket, completion, on_gone);
  while (!completion->done && (wait_after_gone || !completion->client_gone)) {
    co_await completion->timer.async_wait(kAwait);
  }
  boost::system::error_code ignored;
  socket.cancel(ignored);
  co_return !completion->client_gone;
}

// Raises the soft limit on open files to the hard limit: every stream holds a client and an
// upstream socket.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t soft = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = soft;
  }
  spdlog::info("open files: soft limit {} (was {}), hard limit {}",
               static_cast<std::uint64_t>(limit.rlim_cur), static_cast<std::uint64_t>(soft),
               static_cast<std::uint64_t>(limit.rlim_max));
}

}  // namespace

struct HttpServer::State {
  ServerOptions options;
  HttpHandler handler;
  std::vector<std::unique_ptr<Worker>> workers;
  std::optional<asio::signal_set> signals;
  std::optional<asio::thread_pool> blocking_pool;
  std::atomic<bool> stopped{false};

  // Runs `work` on the blocking pool and resumes the caller on its own event loop.
  template <typename Work>
  asio::awaitable<void> Blocking(Work work) {
    co_await asio::co_spawn(
        blocking_pool->get_executor(),
        [&work]() -> asio::awaitable<void> {
          work();
          co_return;
        },
        asio::use_awaitable);
  }
  // Sends `response`, whose body comes from its BodySource: chunked for HTTP/1.1, delimited by
  // closing the connection for HTTP/1.0. True when the connection may serve another request.
  asio::awaitable<bool> Stream(beast::tcp_stream& stream, HttpResponse& response, bool keep_alive,
                               bool chunked);
  // Appends `chunk` to `out` (as an HTTP chunk when `chunked`, with the end marker after the
  // last piece) and writes `out`. False when the write failed.
  asio::awaitable<bool> WriteBody(beast::tcp_stream& stream, std::string& out, BodyPiece piece,
                                  const std::string& chunk, bool chunked);

  asio::awaitable<void> Accept(Worker& worker);
  asio::awaitable<void> Serve(Worker& worker, tcp::socket socket);
  HttpRequest ToRequest(bhttp::request<bhttp::string_body>& message) const;
  HttpResponse TransportError(int status) const;
  // The client address of a request from the trusted proxy `peer`: every X-Forwarded-For
  // header, in order, read as one list.
  std::string ClientAddressFor(const HttpRequest& request, const std::string& peer) const;
};

HttpRequest HttpServer::State::ToRequest(bhttp::request<bhttp::string_body>& message) const {
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.version = static_cast<int>(message.version());
  const std::string_view target = message.target();
  const auto question = target.find('?');
  request.path = PercentDecode(target.substr(0, question), false);
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
  request.headers.reserve(std::distance(message.begin(), message.end()));
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  return request;
}

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
    asio::co_spawn(worker.io, Serve(worker, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> HttpServer::State::Serve(Worker& worker, tcp::socket socket) {
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  const auto peer = socket.remote_endpoint(ignored);
  const std::string remote_address = ignored ? std::string() : peer.address().to_string();
  // Decided once per connection: only a trusted peer's X-Forwarded-For is ever read.
  const auto peer_address = IpAddress::Parse(remote_address);
  const bool peer_is_trusted = peer_address && AnyContains(options.trusted_proxies, *peer_address);
  beast::tcp_stream stream(std::move(socket));
  Connection connection{&stream, true};
  const ConnectionRegistration registration(worker, &connection);

  beast::flat_buffer buffer;
  std::string out;  // responses not yet written (pipelined requests are answered together)
  auto flush = [&]() -> asio::awaitable<bool> {
    if (out.empty()) co_return true;
    stream.expires_after(kRequestTimeout);
    auto [write_error, written] = co_await asio::async_write(stream, asio::buffer(out), kAwait);
    out.clear();
    co_return !write_error;
  };

  bool keep_alive = true;
  while (keep_alive) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(options.max_body);
    parser.header_limit(kHeaderLimit);
    connection.idle = out.empty() && buffer.size() == 0;
    if (worker.stopping && connection.idle) break;
    stream.expires_after(connection.idle ? options.idle_timeout : kRequestTimeout);
    auto [read_error, header_bytes] =
        co_await bhttp::async_read_header(stream, buffer, parser, kAwait);
    connection.idle = false;

    if (!read_error && !parser.is_done()) {
      if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
        // Answers owed to earlier pipelined requests go first.
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        out += kContinue;
        if (!co_await flush()) break;
      }
      std::tie(read_error, header_bytes) =
          co_await bhttp::async_read(stream, buffer, parser, kAwait);
    }
    if (read_error) {
      // A clean close between requests needs no answer beyond those owed (after a timeout the
      // stream has closed the socket already, and the flush finds nothing to write to).
      if (read_error == bhttp::error::end_of_stream || read_error == asio::error::eof ||
          read_error == beast::error::timeout || read_error == asio::error::operation_aborted ||
          read_error == asio::error::connection_reset) {
        co_await flush();
        break;
      }
      const int status = read_error == bhttp::error::body_limit ? 413 : 400;
      AppendResponse(out, TransportError(status), false);
      keep_alive = false;
    } else {
      auto message = parser.release();
      keep_alive = message.keep_alive() && !worker.stopping;
      HttpRequest request = ToRequest(message);
      request.remote_address =
          peer_is_trusted ? ClientAddressFor(request, remote_address) : remote_address;
      const bool head = request.method == "HEAD";
      HttpResponse response;
      handler(request, response);
      if (response.async) {
        auto async = std::move(response.async);
        response.async = nullptr;
        // Named, not temporaries in the co_await expression (g++ 12 mis-destroys those).
        const std::function<void(std::function<void()>)> start = [&](std::function<void()> done) {
          async(response, std::move(done));
        };
        const bool present =
            co_await AwaitCompletion(stream.socket(), start, response.cancel, true);
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
        if (!co_await flush()) {
          if (response.body_source) response.body_source->Abort();
          if (response.async_body) response.async_body->Abort();
          break;
        }
        if (!co_await Stream(stream, response, keep_alive, request.version >= 11)) break;
        continue;
      }
      AppendResponse(out, response, keep_alive, head);
    }

    const bool more_waiting = keep_alive && buffer.size() > 0 && HoldsCompleteHeader(buffer);
    if ((!more_waiting || out.size() >= kWriteBatchLimit) && !co_await flush()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<bool> HttpServer::State::WriteBody(beast::tcp_stream& stream, std::string& out,
                                                   BodyPiece piece, const std::string& chunk,
                                                   bool chunked) {
  if (chunked) {
    AppendChunk(out, chunk);
    if (piece == BodyPiece::kLast) out += "0\r\n\r\n";
  } else {
    out += chunk;
  }
  if (out.empty()) co_return true;
  stream.expires_after(kRequestTimeout);
  auto [write_error, written] = co_await asio::async_write(stream, asio::buffer(out), kAwait);
  out.clear();
  co_return !write_error;
}

asio::awaitable<bool> HttpServer::State::Stream(beast::tcp_stream& stream, HttpResponse& response,
                                                bool keep_alive, bool chunked) {
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
      const std::function<void()> abort = [source] { source->Abort(); };
      const bool present = co_await AwaitCompletion(stream.socket(), start, abort, false);
      if (!present) co_return false;
      const BodyPiece piece = next->first;
      if (!co_await WriteBody(stream, out, piece, next->second, chunked)) {
        if (piece == BodyPiece::kMore) source->Abort();
        co_return false;
      }
      if (piece == BodyPiece::kBroken) co_return false;
    }
    co_return keep_alive;
  }
  BodySource& source = *response.body_source;
  for (auto piece = BodyPiece::kMore; piece == BodyPiece::kMore;) {
    co_await Blocking([&] {
      try {
        piece = source.Next(chunk);
      } catch (const std::exception&) {
        chunk.clear();
        piece = BodyPiece::kBroken;
      }
    });
    if (!co_await WriteBody(stream, out, piece, chunk, chunked)) {
      if (piece == BodyPiece::kMore) source.Abort();
      co_return false;
    }
    if (piece == BodyPiece::kBroken) co_return false;
  }
  co_return keep_alive;
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
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(state_->options.host, ec);
  if (ec) throw std::runtime_error("invalid listen address " + state_->options.host);
  std::uint16_t port = state_->options.port;
  for (auto& worker : state_->workers) {
    tcp::acceptor& acceptor = worker->acceptor.emplace(worker->io);
    const tcp::endpoint endpoint(address, port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.set_option(ReusePort(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + state_->options.host + ":" +
                               std::to_string(port) + ": " + ec.message());
    }
    port = acceptor.local_endpoint().port();
  }
  return port;
}

void HttpServer::Run() {
  Worker& first = *state_->workers.front();
  state_->signals.emplace(first.io, SIGINT, SIGTERM);
  state_->signals->async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) Stop();
  });
  for (auto& worker : state_->workers) {
    asio::co_spawn(worker->io, state_->Accept(*worker), asio::detached);
  }
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < state_->workers.size(); ++i) {
    threads.emplace_back([worker = state_->workers[i].get()] {
      SetCurrentEventLoop(&worker->io);
      worker->io.run();
      SetCurrentEventLoop(nullptr);
    });
  }
  SetCurrentEventLoop(&first.io);
  first.io.run();
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
        if (connection->idle) connection->stream->socket().cancel(ignored);
      }
      if (worker == state_->workers.front().get() && state_->signals) {
        state_->signals->cancel(ignored);
      }
    });
  }
}

}  // namespace gatehouse
