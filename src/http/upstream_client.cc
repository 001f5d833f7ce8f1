#include "http/upstream_client.h"

#include <netdb.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

namespace gatehouse {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// An upstream answer larger than this is a misbehaving provider, not a chat completion.
constexpr std::uint64_t kMaxUpstreamBody = 64ull << 20;

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

// Name lookups run on a detached thread of their own: getaddrinfo cannot be interrupted, and a
// lookup that hangs must cost the caller no more than its timeout (the thread finishes whenever
// the resolver answers and then only drops its result).
boost::system::error_code Resolve(const std::string& host, const std::string& port,
                                  std::chrono::milliseconds timeout,
                                  std::vector<tcp::endpoint>& endpoints) {
  struct Lookup {
    std::mutex mutex;
    std::condition_variable done;
    bool finished = false;
    int status = 0;
    std::vector<tcp::endpoint> endpoints;
  };
  boost::system::error_code literal_error;
  const auto address = asio::ip::make_address(host, literal_error);
  if (!literal_error) {  // an IP address needs no lookup
    unsigned number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc() || end != port.data() + port.size() || number > 65535) {
      return asio::error::invalid_argument;
    }
    endpoints = {tcp::endpoint(address, static_cast<std::uint16_t>(number))};
    return {};
  }
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host, port] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* results = nullptr;
    const int status = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &results);
    std::vector<tcp::endpoint> found;
    for (addrinfo* entry = results; status == 0 && entry; entry = entry->ai_next) {
      tcp::endpoint endpoint;
      if (entry->ai_addrlen > endpoint.capacity()) continue;
      std::memcpy(endpoint.data(), entry->ai_addr, entry->ai_addrlen);
      endpoint.resize(entry->ai_addrlen);
      found.push_back(endpoint);
    }
    if (results) ::freeaddrinfo(results);
    std::lock_guard lock(lookup->mutex);
    lookup->status = status;
    lookup->endpoints = std::move(found);
    lookup->finished = true;
    lookup->done.notify_one();
  }).detach();

  std::unique_lock lock(lookup->mutex);
  if (!lookup->done.wait_for(lock, timeout, [&] { return lookup->finished; })) {
    return beast::error::timeout;
  }
  if (lookup->status != 0 || lookup->endpoints.empty()) return asio::error::host_not_found;
  endpoints = std::move(lookup->endpoints);
  return {};
}

}  // namespace

struct UpstreamCall::State {
  asio::io_context io;
  std::optional<asio::ssl::context> tls_context;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  std::chrono::milliseconds timeout{60000};
  std::optional<UpstreamFailure> failure;
  std::string failure_detail;

  beast::tcp_stream& Tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  // Runs one asynchronous operation to completion on this call's own event loop.
  template <typename Initiate>
  boost::system::error_code Run(Initiate initiate) {
    boost::system::error_code result;
    Tcp().expires_after(timeout);
    initiate([&result](boost::system::error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  bool Fail(boost::system::error_code ec, std::string_view what) {
    if (ec == beast::error::timeout) {
      failure = UpstreamFailure::kTimeout;
    } else if (ec.category() == bhttp::make_error_code(bhttp::error::partial_message).category()) {
      failure = UpstreamFailure::kProtocol;
    } else {
      failure = UpstreamFailure::kNetwork;
    }
    failure_detail = std::string(what) + ": " + ec.message();
    return false;
  }

  template <typename Stream>
  bool Exchange(Stream& stream, const ParsedUrl& url, const UpstreamRequest& request) {
    bhttp::request<bhttp::string_body> message(bhttp::verb::post, url.target, 11);
    message.set(bhttp::field::host, url.host);
    message.set(bhttp::field::user_agent, "gatehouse");
    for (const auto& [name, value] : request.headers) message.set(name, value);
    message.body() = request.body;
    message.prepare_payload();
    if (auto ec = Run([&](auto handler) { bhttp::async_write(stream, message, handler); })) {
      return Fail(ec, "send");
    }
    parser.body_limit(kMaxUpstreamBody);
    if (auto ec =
            Run([&](auto handler) { bhttp::async_read_header(stream, buffer, parser, handler); })) {
      return Fail(ec, "read response head");
    }
    return true;
  }

  template <typename Stream>
  bool ReadSome(Stream& stream, std::string& out) {
    std::string& body = parser.get().body();
    while (body.empty() && !parser.is_done()) {
      if (auto ec =
              Run([&](auto handler) { bhttp::async_read_some(stream, buffer, parser, handler); })) {
        if (ec == bhttp::error::end_of_stream) break;
        return Fail(ec, "read response body");
      }
    }
    out += body;
    body.clear();
    return !parser.is_done();
  }
};

UpstreamCall::UpstreamCall() : state_(std::make_unique<State>()) {}

UpstreamCall::~UpstreamCall() = default;

bool UpstreamCall::Start(const UpstreamRequest& request) {
  State& s = *state_;
  s.timeout = request.timeout;
  const auto url = ParseUrl(request.url);
  if (!url) {
    s.failure = UpstreamFailure::kNetwork;
    s.failure_detail = "unsupported URL";
    return false;
  }
  if (url->tls) {
    s.tls_context.emplace(asio::ssl::context::tls_client);
    s.tls_context->set_default_verify_paths();
    s.tls_context->set_verify_mode(asio::ssl::verify_peer);
    s.secure.emplace(s.io, *s.tls_context);
    s.secure->set_verify_callback(asio::ssl::host_name_verification(url->host));
    SSL_set_tlsext_host_name(s.secure->native_handle(), url->host.c_str());
  } else {
    s.plain.emplace(s.io);
  }

  std::vector<tcp::endpoint> endpoints;
  if (auto ec = Resolve(url->host, url->port, s.timeout, endpoints)) return s.Fail(ec, "resolve");
  if (auto ec = s.Run([&](auto handler) { s.Tcp().async_connect(endpoints, handler); })) {
    return s.Fail(ec, "connect");
  }
  boost::system::error_code ignored;
  s.Tcp().socket().set_option(tcp::no_delay(true), ignored);
  if (s.secure) {
    if (auto ec = s.Run([&](auto handler) {
          s.secure->async_handshake(asio::ssl::stream_base::client, handler);
        })) {
      return s.Fail(ec, "TLS handshake");
    }
    return s.Exchange(*s.secure, *url, request);
  }
  return s.Exchange(*s.plain, *url, request);
}

int UpstreamCall::status() const { return state_->parser.get().result_int(); }

std::string UpstreamCall::ContentType() const {
  return std::string(state_->parser.get()[bhttp::field::content_type]);
}

bool UpstreamCall::Read(std::string& out) {
  State& s = *state_;
  return s.secure ? s.ReadSome(*s.secure, out) : s.ReadSome(*s.plain, out);
}

bool UpstreamCall::ReadAll(std::string& out) {
  while (Read(out)) {
  }
  return !state_->failure;
}

const std::optional<UpstreamFailure>& UpstreamCall::failure() const { return state_->failure; }

const std::string& UpstreamCall::failure_detail() const { return state_->failure_detail; }

}  // namespace gatehouse
