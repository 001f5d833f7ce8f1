#include "http/upstream_client.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <optional>
#include <stdexcept>

#include "http/answer_parser.h"
#include "http/event_loop.h"
#include "http/socket_deadline.h"
#include "http/upstream_pool.h"
#include "http/upstream_target.h"

namespace gatehouse {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using upstream_pool::Connection;
using upstream_pool::kReadBufferLimit;
using upstream_pool::LoopPool;
using Shared = AsioUpstreamClient::Shared;
using upstream_target::Target;
using upstream_target::Targets;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// Interim (1xx) answers taken before the final one; more is an upstream gone wrong.
constexpr int kMaxInterimAnswers = 8;

UpstreamFailure FailureOf(const boost::system::error_code& ec) {
  if (ec == beast::error::timeout) return UpstreamFailure::kTimeout;
  if (ec.category() == bhttp::make_error_code(bhttp::error::partial_message).category() &&
      ec != bhttp::error::end_of_stream) {
    return UpstreamFailure::kProtocol;
  }
  return UpstreamFailure::kNetwork;
}

// Calls `use` with the connection's stream: the TLS one for https, else the TCP socket.
template <class Use>
decltype(auto) OnStream(Connection& connection, Use&& use) {
  return connection.secure ? use(*connection.secure) : use(*connection.plain);
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
    // The whole-call budget is the provider's: the time the caller held the last piece (a slow
    // client taking a stream) moves the deadline on, by at most the budget once more, so that
    // no call holds its connection and its provider's cap past twice the budget.
    held_ += SteadyClock::now() - handed_at_;
    deadline_ = start_ + total_timeout_ + std::min(held_, SteadyClock::duration(total_timeout_));
    // What an earlier read brought past the head (a whole small answer, as a rule) is handed
    // over at once, without an operation and a turn of the loop to parse it.
    if (connection_->buffer.size() > 0) {
      if (auto ec = ParseBuffered()) return Fail(ec, done);
      if (parser_->is_done() || !parser_->body().empty()) return Hand(done);
    }
    Expire(read_timeout_);
    auto self = shared_from_this();
    OnStream(*connection_, [&](auto& stream) {
      bhttp::async_read_some(
          stream, connection_->buffer, *parser_,
          [self, done = std::move(done)](boost::system::error_code ec, std::size_t) {
            self->ReadDone(ec, done);
          });
    });
  }

  bool RequestSent() const override { return sent_; }

  void Cancel() override {
    if (cancelled_) return;
    cancelled_ = true;
    if (lookup_timer_) lookup_timer_->cancel();
    if (connection_) {
      // A client leaving is no TLS failure: the session stays good for the next handshake.
      connection_->EndedCleanly();
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
    if (ec || cancelled_) return Fail(ec, done);
    Hand(done);
  }

  void Fail(const boost::system::error_code& ec, const BodyCallback& done) {
    connection_.reset();
    done(std::unexpected(Error(ec, "read response body")));
  }

  // Hands what the parser holds of the body to the caller.
  void Hand(const BodyCallback& done) {
    UpstreamBodyPiece piece;
    piece.bytes = std::move(parser_->body());
    parser_->body().clear();
    piece.end = parser_->is_done();
    // Neither chunks nor a length: the body ended with the connection (Beast reads the close as
    // the body's end).
    piece.ended_by_close = piece.end && !parser_->chunked() && !parser_->content_length();
    if (piece.end) Release();
    handed_at_ = SteadyClock::now();
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

  // Returns the connection to its loop's pool when the upstream keeps it open and nothing it
  // sent is left unread (in the buffer or the TLS layer).
  void Release() {
    if (!connection_) return;
    // The parser's keep_alive(), not the message's: a body that ended with the connection
    // (neither a length nor chunks) leaves nothing to reuse, whatever the headers said.
    const bool keep = parser_->keep_alive() && !connection_->HoldsUnreadBytes() && !cancelled_;
    if (keep) {
      asio::use_service<LoopPool>(io_).Put(target_->pool_key, std::move(connection_));
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
    if (auto cached = shared_->CachedLookup(key); cached.answer) {
      if (cached.refresh) RefreshLookup(url.host, url.port, key);
      endpoints = std::move(*cached.answer);
      co_return boost::system::error_code();
    }
    // getaddrinfo cannot be interrupted: the lookup runs on a lookup thread (shared with the
    // calls that want the same host meanwhile) and is abandoned when the wait for it times out;
    // its late answer still serves the calls after it.
    struct Lookup {
      bool finished = false;
      Shared::LookupAnswer answer;
    };
    auto lookup = std::make_shared<Lookup>();
    lookup_timer_.emplace(io_, head_deadline_);
    shared_->lookups.Lookup(
        url.host, url.port,
        [lookup, key, weak_shared = std::weak_ptr<Shared>(shared_),
         weak_self = std::weak_ptr<AsioExchange>(shared_from_this()),
         inbox = asio::use_service<LoopPool>(io_).inbox()](const Shared::LookupAnswer& answer) {
          if (auto shared = weak_shared.lock(); shared && !answer.ec) {
            shared->StoreLookup(key, answer.endpoints);
          }
          // The exchange is only ever touched, and so let go of, on its loop.
          inbox->Post([weak_self, lookup, answer] {
            auto self = weak_self.lock();
            if (!self || lookup->finished) return;
            lookup->finished = true;
            lookup->answer = answer;
            self->lookup_timer_->cancel();
          });
        });
    co_await lookup_timer_->async_wait(kAwait);
    if (!lookup->finished) {
      lookup->finished = true;
      co_return cancelled_ ? boost::system::error_code(asio::error::operation_aborted)
                           : boost::system::error_code(beast::error::timeout);
    }
    if (lookup->answer.ec) co_return lookup->answer.ec;
    endpoints = std::move(lookup->answer.endpoints);
    co_return boost::system::error_code();
  }

  // Looks `host` up again in the background; the answer replaces the stale one the calls use
  // meanwhile. No call waits for it, and it outlives this exchange.
  void RefreshLookup(const std::string& host, const std::string& port, const std::string& key) {
    shared_->lookups.Lookup(
        host, port,
        [weak_shared = std::weak_ptr<Shared>(shared_), key](const Shared::LookupAnswer& answer) {
          auto shared = weak_shared.lock();
          if (!shared) return;
          if (answer.ec) {
            shared->LookupFailed(key);
          } else {
            shared->StoreLookup(key, answer.endpoints);
          }
        });
  }

  // Opens a fresh connection to `url` (TCP, then TLS for https).
  asio::awaitable<boost::system::error_code> Connect(const ParsedUrl& url, std::string& what) {
    std::vector<tcp::endpoint> endpoints;
    what = "resolve";
    if (cancelled_) co_return asio::error::operation_aborted;  // before a lookup is waited for
    if (auto ec = co_await Resolve(url, endpoints)) co_return ec;
    if (cancelled_) co_return asio::error::operation_aborted;
    auto tls = url.tls ? shared_->TlsFor(url.host + ":" + url.port) : nullptr;
    what = "connect";
    // The addresses in turn, each with an equal share of what is left of the budget: an address
    // that drops what is sent to it (a broken IPv6 route) must not take all of it while the next
    // one would answer at once. A timed-out socket stays closed: each try has its own.
    boost::system::error_code connect_error = asio::error::host_not_found;
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      if (cancelled_) co_return asio::error::operation_aborted;
      connection_ = std::make_unique<Connection>(io_, shared_, tls);
      const auto now = SteadyClock::now();
      const auto left = std::max(head_deadline_ - now, SteadyClock::duration::zero());
      connection_->deadline->ExpireAt(now +
                                      left / static_cast<SteadyClock::rep>(endpoints.size() - i));
      auto [ec] = co_await connection_->Tcp().async_connect(endpoints[i], kAwait);
      connect_error = connection_->deadline->Settle(ec);
      if (!connect_error) break;
    }
    if (connect_error) co_return connect_error;
    ++shared_->created;  // connections made, not tries
    ExpireBeforeHead();  // the TLS handshake has what is left
    SocketDeadline& deadline = *connection_->deadline;
    boost::system::error_code ignored;
    connection_->Tcp().set_option(tcp::no_delay(true), ignored);
    connection_->Tcp().ReportReceiveQueue();
    if (connection_->secure) {
      auto& secure = *connection_->secure;
      const std::string name(url.name());
      secure.set_verify_callback(asio::ssl::host_name_verification(name));
      if (!url.IsAddress()) SSL_set_tlsext_host_name(secure.native_handle(), name.c_str());
      connection_->tls->Resume(secure.native_handle());
      what = "TLS handshake";
      auto [handshake_error] =
          co_await secure.async_handshake(asio::ssl::stream_base::client, kAwait);
      if (handshake_error) co_return deadline.Settle(handshake_error);
    }
    co_return deadline.Settle({});
  }

  // Writes the request; `unsent` tells whether a failed write left none of it with the kernel.
  asio::awaitable<boost::system::error_code> Send(bool& unsent) {
    ExpireBeforeHead();
    auto [ec, sent] = co_await OnStream(*connection_, [&](auto& stream) {
      return asio::async_write(stream, asio::buffer(request_text_), kAwait);
    });
    unsent = sent == 0;
    co_return connection_->deadline->Settle(ec);
  }

  asio::awaitable<void> Run(UpstreamRequest request, HeadCallback done) {
    auto self = shared_from_this();
    const auto start = SteadyClock::now();
    start_ = start;
    total_timeout_ = request.total_timeout;
    deadline_ = start + request.total_timeout;
    // The name lookup, connect, TLS handshake, send and the wait for the head share one budget.
    head_deadline_ = std::min(start + request.first_byte_timeout, deadline_);
    read_timeout_ = request.read_timeout;
    target_ = asio::use_service<Targets>(io_).Find(shared_.get(), request.provider->base_url,
                                                   request.path);
    if (!target_) {
      done(std::unexpected(UpstreamError{UpstreamFailure::kNetwork, "unsupported URL"}));
      co_return;
    }
    FormatRequest(request);

    // A pooled connection the upstream closed meanwhile fails before it has sent anything:
    // such a call is tried once more on a fresh connection. A write that timed out or left
    // part of the request is not tried again: the provider may hold all of it (a socket
    // closed with data queued still delivers it), and the first-byte budget is spent.
    std::string what;
    boost::system::error_code ec;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (cancelled_) break;  // before Take: a call cancelled early spends no idle connection
      connection_ =
          attempt == 0 ? asio::use_service<LoopPool>(io_).Take(target_->pool_key) : nullptr;
      const bool reused = connection_ != nullptr;
      if (!reused && (ec = co_await Connect(target_->url, what))) break;
      if (cancelled_) break;
      what = "send";
      bool unsent = false;
      ec = co_await Send(unsent);
      sent_ = !ec;
      if (sent_ && reused) ++shared_->reused;  // calls sent on a pooled connection
      if (!ec || !reused || cancelled_ || !unsent || ec == beast::error::timeout) break;
    }
    if (!ec && !cancelled_) {
      what = "read response head";
      ec = co_await ReadFinalHead();
    }
    if (ec || cancelled_) {
      connection_.reset();
      lookup_timer_.reset();
      done(std::unexpected(Error(ec ? ec : asio::error::operation_aborted, what)));
      co_return;
    }
    lookup_timer_.reset();
    UpstreamHead head;
    head.status = parser_->status();
    head.content_type = parser_->content_type();
    head.retry_after = parser_->retry_after();
    handed_at_ = SteadyClock::now();
    done(std::move(head));
  }

  // Reads the head of the answer, past any interim (1xx) answers before it (RFC 9110 §15.2: a
  // client takes those it did not ask for, such as 103 Early Hints, and waits for the final
  // one). Taken for the answer, an interim head would leave the real one on the connection for
  // the next call to read. A 101 switches protocols nobody asked for: a broken answer.
  asio::awaitable<boost::system::error_code> ReadFinalHead() {
    for (int interim = 0;; ++interim) {
      parser_.emplace();
      parser_->body_limit(boost::none);  // the gateway bounds what it keeps
      parser_->header_limit(kReadBufferLimit);
      ExpireBeforeHead();  // each read: Settle disarms; the head's budget is one point in time
      auto [ec, read] = co_await OnStream(*connection_, [&](auto& stream) {
        return bhttp::async_read_header(stream, connection_->buffer, *parser_, kAwait);
      });
      ec = connection_->deadline->Settle(ec);
      const int status = ec ? 0 : parser_->status();
      if (ec || status < 100 || status >= 200) co_return ec;
      if (status == 101 || interim == kMaxInterimAnswers) co_return bhttp::error::bad_status;
    }
  }

  void FormatRequest(const UpstreamRequest& request) {
    std::string& out = request_text_;
    out.reserve(target_->head.size() + 256 + request.body.size());
    out += target_->head;
    char length[24];
    out.append(length, std::to_chars(length, length + sizeof length, request.body.size()).ptr);
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
  std::optional<AnswerParser> parser_;
  std::optional<asio::steady_timer> lookup_timer_;
  std::string request_text_;
  std::shared_ptr<const Target> target_;  // where the call goes
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point head_deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point start_;
  std::chrono::milliseconds total_timeout_{0};
  SteadyClock::time_point handed_at_;  // when the head or the last piece went to the caller
  SteadyClock::duration held_{};       // how long the caller held them, all together
  std::chrono::milliseconds read_timeout_{60000};
  bool cancelled_ = false;
  bool sent_ = false;  // the whole request was written
};

}  // namespace

AsioUpstreamClient::AsioUpstreamClient(UpstreamPoolOptions options)
    : shared_(std::make_shared<Shared>(options)) {}

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
