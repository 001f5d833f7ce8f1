#include "http/upstream_client.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <charconv>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "http/draining_read.h"
#include "http/event_loop.h"
#include "http/socket_deadline.h"

namespace gatehouse {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Bounds one read (and so one piece handed to the gateway) and the response head.
constexpr std::size_t kReadBufferLimit = 64 * 1024;

struct ParsedUrl {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

std::optional<ParsedUrl> ParseUrl(std::string_view url) {
  ParsedUrl parsed;
  if (url.starts_with("https://")) {
    parsed.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  parsed.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    parsed.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
  } else {
    parsed.port = parsed.tls ? "443" : "80";
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty()) return std::nullopt;
  parsed.host = std::string(authority);
  return parsed;
}

// The SSL_CTX extra-data slot that points back to its TlsContext (Asio keeps its own verify
// callback in the app-data slot).
int TlsContextIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// One TLS context per upstream host, loaded once; keeps the latest session for resumption.
struct TlsContext {
  TlsContext() : context(asio::ssl::context::tls_client) {
    context.set_default_verify_paths();
    context.set_verify_mode(asio::ssl::verify_peer);
    SSL_CTX* native = context.native_handle();
    SSL_CTX_set_ex_data(native, TlsContextIndex(), this);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(native, [](SSL* ssl, SSL_SESSION* session) -> int {
      auto* self =
          static_cast<TlsContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), TlsContextIndex()));
      std::lock_guard lock(self->mutex);
      if (self->session) SSL_SESSION_free(self->session);
      self->session = session;
      return 1;  // we keep the reference
    });
  }
  ~TlsContext() {
    if (session) SSL_SESSION_free(session);
  }
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Offers the latest session to `ssl` for resumption.
  void Resume(SSL* ssl) {
    std::lock_guard lock(mutex);
    if (session) SSL_set_session(ssl, session);
  }

  asio::ssl::context context;
  std::mutex mutex;
  SSL_SESSION* session = nullptr;  // guarded by mutex
};

}  // namespace

struct AsioUpstreamClient::Shared {
  UpstreamPoolOptions options;
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> idle{0};
  std::atomic<std::uint64_t> created{0};
  std::atomic<std::uint64_t> reused{0};

  std::mutex mutex;
  std::map<std::string, std::shared_ptr<TlsContext>> tls;  // by host:port; guarded
  struct Lookup {
    std::vector<tcp::endpoint> endpoints;
    SteadyClock::time_point expires;
  };
  std::map<std::string, Lookup> dns;  // by host:port; guarded

  std::shared_ptr<TlsContext> TlsFor(const std::string& key) {
    std::lock_guard lock(mutex);
    auto& context = tls[key];
    if (!context) context = std::make_shared<TlsContext>();
    return context;
  }
  std::optional<std::vector<tcp::endpoint>> CachedLookup(const std::string& key) {
    std::lock_guard lock(mutex);
    auto found = dns.find(key);
    if (found == dns.end() || found->second.expires < SteadyClock::now()) return std::nullopt;
    return found->second.endpoints;
  }
  void StoreLookup(const std::string& key, std::vector<tcp::endpoint> endpoints) {
    std::lock_guard lock(mutex);
    dns[key] = Lookup{std::move(endpoints), SteadyClock::now() + options.dns_ttl};
  }
};

namespace {

using Shared = AsioUpstreamClient::Shared;

// Its reads wait for epoll once the socket is empty (http/draining_read.h).
using UpstreamSocket = DrainingSocket<tcp::socket>;

// One connection to an upstream host; counted in the pool figures for as long as it lives.
struct Connection {
  Connection(asio::io_context& io, std::shared_ptr<Shared> shared_state,
             std::shared_ptr<TlsContext> tls_context)
      : shared(std::move(shared_state)), tls(std::move(tls_context)), buffer(kReadBufferLimit) {
    if (tls) {
      secure.emplace(io, tls->context);
    } else {
      plain.emplace(io);
    }
    deadline.emplace(Tcp());
    ++shared->open;
    ++shared->created;
  }
  ~Connection() { --shared->open; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  UpstreamSocket& Tcp() { return secure ? secure->next_layer() : *plain; }

  // Marks a connection whose exchanges all completed as closed cleanly, so that OpenSSL keeps
  // its session resumable (closing without a shutdown would mark the session bad).
  void EndedCleanly() {
    if (secure)
      SSL_set_shutdown(secure->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }

  // True when the peer has neither closed the connection nor sent anything unasked.
  bool LooksReusable() {
    char byte;
    const ssize_t peeked = ::recv(Tcp().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  std::shared_ptr<Shared> shared;
  std::shared_ptr<TlsContext> tls;  // outlives the ssl stream
  std::optional<UpstreamSocket> plain;
  std::optional<beast::ssl_stream<UpstreamSocket>> secure;
  std::optional<SocketDeadline> deadline;  // of the socket above: each wait, the idle timeout
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since;
};

// The idle connections of one event loop, by client and upstream host. Lives as long as the
// loop (an Asio service), so pooled sockets never outlive their io_context.
class LoopPool final : public asio::execution_context::service {
 public:
  using key_type = LoopPool;
  static inline asio::execution_context::id id;

  // `context` is the loop's io_context: the pool is only ever made through use_service on one.
  explicit LoopPool(asio::execution_context& context)
      : service(context), io_(static_cast<asio::io_context&>(context)) {}
  void shutdown() override { Clear(); }
  ~LoopPool() override { Clear(); }

  // A healthy idle connection for `key`, or null.
  std::unique_ptr<Connection> Take(const std::string& key) {
    auto found = idle_.find(key);
    if (found == idle_.end()) return nullptr;
    auto& list = found->second;
    while (!list.empty()) {
      std::unique_ptr<Connection> connection = std::move(list.back());
      list.pop_back();
      --connection->shared->idle;
      connection->deadline->OnExpire(nullptr);
      const auto idle = SteadyClock::now() - connection->idle_since;
      const UpstreamPoolOptions& options = connection->shared->options;
      if (!connection->deadline->expired() && idle <= options.idle_timeout &&
          (idle < options.peek_after_idle || connection->LooksReusable())) {
        return connection;
      }
      connection->EndedCleanly();
    }
    return nullptr;
  }

  void Put(const std::string& key, std::unique_ptr<Connection> connection) {
    auto& list = idle_[key];
    if (list.size() >= connection->shared->options.max_idle_per_host) {
      connection->EndedCleanly();
      return;
    }
    // Closed by the loop's deadline sweep once idle for the idle timeout, and then let go of.
    const auto now = SteadyClock::now();
    connection->idle_since = now;
    connection->deadline->ExpireAt(now + connection->shared->options.idle_timeout);
    connection->deadline->OnExpire([this] { ScheduleDrop(); });
    ++connection->shared->idle;
    list.push_back(std::move(connection));
  }

 private:
  // Connections that expire together (one sweep closes them all) share one pass over the pool:
  // the pass is posted behind their callbacks, which the sweep has queued already.
  void ScheduleDrop() {
    if (drop_scheduled_) return;
    drop_scheduled_ = true;
    asio::post(io_, [this] { DropExpired(); });
  }

  // Lets go of the idle connections whose idle timeout has closed them.
  void DropExpired() {
    drop_scheduled_ = false;
    for (auto entry = idle_.begin(); entry != idle_.end();) {
      auto& list = entry->second;
      for (auto it = list.begin(); it != list.end();) {
        if ((*it)->deadline->expired()) {
          --(*it)->shared->idle;
          (*it)->EndedCleanly();
          it = list.erase(it);
        } else {
          ++it;
        }
      }
      entry = list.empty() ? idle_.erase(entry) : std::next(entry);
    }
  }

  void Clear() {
    for (auto& [key, list] : idle_) {
      for (auto& connection : list) --connection->shared->idle;
    }
    idle_.clear();
  }

  std::map<std::string, std::deque<std::unique_ptr<Connection>>> idle_;
  asio::io_context& io_;
  bool drop_scheduled_ = false;
};

UpstreamFailure FailureOf(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return UpstreamFailure::kTimeout;
  if (ec.category() == bhttp::make_error_code(bhttp::error::partial_message).category() &&
      ec != bhttp::error::end_of_stream) {
    return UpstreamFailure::kProtocol;
  }
  return UpstreamFailure::kNetwork;
}

class AsioExchange final : public UpstreamExchange,
                           public std::enable_shared_from_this<AsioExchange> {
 public:
  AsioExchange(asio::io_context& io, std::shared_ptr<Shared> shared)
      : io_(io), shared_(std::move(shared)) {}

  void Start(UpstreamRequest request, HeadCallback done) override {
    asio::co_spawn(io_, Run(std::move(request), std::move(done)), asio::detached);
  }

  void Read(BodyCallback done) override {
    if (cancelled_) return done(std::unexpected(UpstreamError{UpstreamFailure::kCancelled, ""}));
    if (!connection_ || !parser_) {
      return done(std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "no response"}));
    }
    if (parser_->is_done()) {
      Release();
      return done(UpstreamBodyPiece{{}, true});
    }
    Expire(read_timeout_);
    auto self = shared_from_this();
    auto handler = [self, done = std::move(done)](boost::system::error_code ec, std::size_t) {
      self->ReadDone(ec, done);
    };
    if (connection_->secure) {
      bhttp::async_read_some(*connection_->secure, connection_->buffer, *parser_,
                             std::move(handler));
    } else {
      bhttp::async_read_some(*connection_->plain, connection_->buffer, *parser_,
                             std::move(handler));
    }
  }

  void Cancel() override {
    if (cancelled_) return;
    cancelled_ = true;
    if (lookup_timer_) lookup_timer_->cancel();
    if (connection_) {
      boost::system::error_code ignored;
      connection_->Tcp().close(ignored);
    }
  }

 private:
  UpstreamError Error(const boost::system::error_code& ec, std::string_view what) const {
    if (cancelled_) return {UpstreamFailure::kCancelled, "cancelled"};
    return {FailureOf(ec), std::string(what) + ": " + ec.message()};
  }

  // Arms the connection's deadline for the next wait: `wait`, cut short by the whole-call deadline.
  void Expire(std::chrono::milliseconds wait) {
    const auto until = std::min(SteadyClock::now() + wait, deadline_);
    connection_->deadline->ExpireAt(until);
  }
  // Arms it for a step before the response head: what is left of the first-byte budget.
  void ExpireBeforeHead() { connection_->deadline->ExpireAt(head_deadline_); }

  void ReadDone(boost::system::error_code ec, const BodyCallback& done) {
    if (connection_) ec = connection_->deadline->Settle(ec);
    if (ec == bhttp::error::end_of_stream && !cancelled_) {
      // A body delimited by the connection's end is complete; anything else is cut.
      ec = parser_->is_done() ? boost::system::error_code() : bhttp::error::partial_message;
    }
    if (!ec && !cancelled_) ec = ParseBuffered();
    if (ec || cancelled_) {
      connection_.reset();
      return done(std::unexpected(Error(ec, "read response body")));
    }
    UpstreamBodyPiece piece;
    piece.bytes = std::move(parser_->get().body());
    parser_->get().body().clear();
    piece.end = parser_->is_done();
    if (piece.end) Release();
    done(std::move(piece));
  }

  // Parses what the last read left in the buffer: the parser stops after each chunk, and one
  // segment often brings several (a stream's last event, its usage and [DONE]), which would
  // otherwise reach the gateway, and the client, as as many pieces and writes.
  boost::system::error_code ParseBuffered() {
    auto& buffer = connection_->buffer;
    while (!parser_->is_done() && buffer.size() > 0) {
      boost::system::error_code ec;
      const std::size_t used = parser_->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == bhttp::error::need_more) break;
      if (ec) return ec;
    }
    return {};
  }

  // Returns the connection to its loop's pool when the upstream keeps it open and nothing is
  // left unread.
  void Release() {
    if (!connection_) return;
    const bool keep = parser_->get().keep_alive() && connection_->buffer.size() == 0 && !cancelled_;
    if (keep) {
      asio::use_service<LoopPool>(io_).Put(pool_key_, std::move(connection_));
    } else if (!cancelled_) {
      connection_->EndedCleanly();
    }
    connection_.reset();
  }

  asio::awaitable<boost::system::error_code> Resolve(const ParsedUrl& url,
                                                     std::vector<tcp::endpoint>& endpoints) {
    boost::system::error_code literal_error;
    const auto address = asio::ip::make_address(url.host, literal_error);
    if (!literal_error) {  // an IP address needs no lookup
      unsigned number = 0;
      const auto [end, ec] =
          std::from_chars(url.port.data(), url.port.data() + url.port.size(), number);
      if (ec != std::errc() || end != url.port.data() + url.port.size() || number > 65535) {
        co_return asio::error::invalid_argument;
      }
      endpoints = {tcp::endpoint(address, static_cast<std::uint16_t>(number))};
      co_return boost::system::error_code();
    }
    const std::string key = url.host + ":" + url.port;
    if (auto cached = shared_->CachedLookup(key)) {
      endpoints = std::move(*cached);
      co_return boost::system::error_code();
    }
    // getaddrinfo cannot be interrupted: the lookup runs on Asio's resolver thread and is
    // abandoned (its late answer dropped) when the wait for it times out.
    struct Lookup {
      explicit Lookup(asio::io_context& io) : resolver(io) {}
      tcp::resolver resolver;
      bool finished = false;
      boost::system::error_code ec;
      std::vector<tcp::endpoint> endpoints;
    };
    auto lookup = std::make_shared<Lookup>(io_);
    lookup_timer_.emplace(io_, head_deadline_);
    auto* timer = &*lookup_timer_;
    lookup->resolver.async_resolve(
        url.host, url.port,
        [lookup, timer, self = shared_from_this()](boost::system::error_code ec,
                                                   tcp::resolver::results_type results) {
          if (lookup->finished) return;
          lookup->finished = true;
          lookup->ec = ec;
          for (const auto& entry : results) lookup->endpoints.push_back(entry.endpoint());
          timer->cancel();
        });
    co_await lookup_timer_->async_wait(kAwait);
    if (!lookup->finished) {
      lookup->finished = true;
      lookup->resolver.cancel();
      co_return cancelled_ ? boost::system::error_code(asio::error::operation_aborted)
                           : boost::system::error_code(beast::error::timeout);
    }
    if (lookup->ec) co_return lookup->ec;
    if (lookup->endpoints.empty()) co_return asio::error::host_not_found;
    shared_->StoreLookup(key, lookup->endpoints);
    endpoints = std::move(lookup->endpoints);
    co_return boost::system::error_code();
  }

  // Opens a fresh connection to `url` (TCP, then TLS for https).
  asio::awaitable<boost::system::error_code> Connect(const ParsedUrl& url, std::string& what) {
    std::vector<tcp::endpoint> endpoints;
    what = "resolve";
    if (auto ec = co_await Resolve(url, endpoints)) co_return ec;
    if (cancelled_) co_return asio::error::operation_aborted;
    connection_ = std::make_unique<Connection>(
        io_, shared_, url.tls ? shared_->TlsFor(url.host + ":" + url.port) : nullptr);
    // Closing the socket when the deadline passes also ends the connect: Asio tries no further
    // address once its socket is closed.
    ExpireBeforeHead();
    what = "connect";
    SocketDeadline& deadline = *connection_->deadline;
    auto [connect_error, endpoint] =
        co_await asio::async_connect(connection_->Tcp(), endpoints, kAwait);
    if (connect_error) co_return deadline.Settle(connect_error);
    boost::system::error_code ignored;
    connection_->Tcp().set_option(tcp::no_delay(true), ignored);
    connection_->Tcp().ReportReceiveQueue();
    if (connection_->secure) {
      auto& secure = *connection_->secure;
      secure.set_verify_callback(asio::ssl::host_name_verification(url.host));
      SSL_set_tlsext_host_name(secure.native_handle(), url.host.c_str());
      connection_->tls->Resume(secure.native_handle());
      what = "TLS handshake";
      auto [handshake_error] =
          co_await secure.async_handshake(asio::ssl::stream_base::client, kAwait);
      if (handshake_error) co_return deadline.Settle(handshake_error);
    }
    co_return deadline.Settle({});
  }

  asio::awaitable<boost::system::error_code> Send() {
    ExpireBeforeHead();
    boost::system::error_code ec;
    if (connection_->secure) {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(*connection_->secure, asio::buffer(request_text_), kAwait);
    } else {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(*connection_->plain, asio::buffer(request_text_), kAwait);
    }
    co_return connection_->deadline->Settle(ec);
  }

  asio::awaitable<void> Run(UpstreamRequest request, HeadCallback done) {
    auto self = shared_from_this();
    const auto start = SteadyClock::now();
    deadline_ = start + request.total_timeout;
    // The name lookup, connect, TLS handshake, send and the wait for the head share one budget.
    head_deadline_ = std::min(start + request.first_byte_timeout, deadline_);
    read_timeout_ = request.read_timeout;
    std::string base = request.provider->base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    const auto url = ParseUrl(base + request.path);
    if (!url) {
      done(std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "unsupported URL"}));
      co_return;
    }
    pool_key_ = std::to_string(reinterpret_cast<std::uintptr_t>(shared_.get())) +
                (url->tls ? " https://" : " http://") + url->host + ":" + url->port;
    FormatRequest(*url, request);

    // A pooled connection the upstream closed meanwhile fails before it has sent anything:
    // such a call is tried once more on a fresh connection.
    std::string what;
    boost::system::error_code ec;
    for (int attempt = 0; attempt < 2; ++attempt) {
      connection_ = attempt == 0 ? asio::use_service<LoopPool>(io_).Take(pool_key_) : nullptr;
      const bool reused = connection_ != nullptr;
      if (reused) {
        ++shared_->reused;
      } else if ((ec = co_await Connect(*url, what))) {
        break;
      }
      if (cancelled_) break;
      what = "send";
      ec = co_await Send();
      if (!ec || !reused || cancelled_) break;
    }
    if (!ec && !cancelled_) {
      parser_.emplace();
      parser_->body_limit(boost::none);  // the gateway bounds what it keeps
      parser_->header_limit(kReadBufferLimit);
      what = "read response head";
      ExpireBeforeHead();
      if (connection_->secure) {
        std::tie(ec, std::ignore) = co_await bhttp::async_read_header(
            *connection_->secure, connection_->buffer, *parser_, kAwait);
      } else {
        std::tie(ec, std::ignore) = co_await bhttp::async_read_header(
            *connection_->plain, connection_->buffer, *parser_, kAwait);
      }
      ec = connection_->deadline->Settle(ec);
    }
    if (ec || cancelled_) {
      connection_.reset();
      lookup_timer_.reset();
      done(std::unexpected(Error(ec ? ec : asio::error::operation_aborted, what)));
      co_return;
    }
    lookup_timer_.reset();
    UpstreamHead head;
    const auto& message = parser_->get();
    head.status = message.result_int();
    head.content_type = std::string(message[bhttp::field::content_type]);
    head.retry_after = std::string(message[bhttp::field::retry_after]);
    done(std::move(head));
  }

  void FormatRequest(const ParsedUrl& url, const UpstreamRequest& request) {
    std::string& out = request_text_;
    out.reserve(256 + request.body.size());
    out += "POST ";
    out += url.target;
    out += " HTTP/1.1\r\nHost: ";
    out += url.host;
    if (url.port != (url.tls ? "443" : "80")) {
      out += ':';
      out += url.port;
    }
    out += "\r\nUser-Agent: gatehouse\r\nContent-Length: ";
    out += std::to_string(request.body.size());
    out += "\r\n";
    for (const auto& [name, value] : request.headers) {
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    }
    out += "\r\n";
    out += request.body;
  }

  asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<Connection> connection_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  std::optional<asio::steady_timer> lookup_timer_;
  std::string request_text_;
  std::string pool_key_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point head_deadline_ = SteadyClock::time_point::max();
  std::chrono::milliseconds read_timeout_{60000};
  bool cancelled_ = false;
};

}  // namespace

AsioUpstreamClient::AsioUpstreamClient(UpstreamPoolOptions options)
    : shared_(std::make_shared<Shared>()) {
  shared_->options = options;
}

AsioUpstreamClient::~AsioUpstreamClient() = default;

std::shared_ptr<UpstreamExchange> AsioUpstreamClient::Open() {
  asio::io_context* loop = CurrentEventLoop();
  if (!loop) throw std::logic_error("AsioUpstreamClient::Open outside an event loop");
  return std::make_shared<AsioExchange>(*loop, shared_);
}

UpstreamPoolFigures AsioUpstreamClient::Figures() const {
  return {shared_->open.load(), shared_->idle.load(), shared_->created.load(),
          shared_->reused.load()};
}

}  // namespace gatehouse
