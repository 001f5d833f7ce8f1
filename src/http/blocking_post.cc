#include "http/blocking_post.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <exception>
#include <string_view>

namespace gatehouse {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

struct Target {
  bool tls = false;
  std::string host;
  std::string port;
  std::string path;
};

bool ParseUrl(std::string_view url, Target& target) {
  if (url.starts_with("https://")) {
    target.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return false;
  }
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  target.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    target.host = std::string(authority.substr(0, colon));
    target.port = std::string(authority.substr(colon + 1));
  } else {
    target.host = std::string(authority);
    target.port = target.tls ? "443" : "80";
  }
  if (target.host.size() > 2 && target.host.front() == '[') {
    target.host = target.host.substr(1, target.host.size() - 2);
  }
  return !target.host.empty();
}

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// Each wait (connect, handshake, write, read) is bounded by `timeout`: the stream closes its
// socket when it passes, which ends the operation with a timeout error.
template <typename Stream>
asio::awaitable<PostOutcome> Exchange(Stream& stream, beast::tcp_stream& tcp_layer,
                                      const Target& target, const std::string& body,
                                      std::chrono::milliseconds timeout) {
  bhttp::request<bhttp::string_body> request{bhttp::verb::post, target.path, 11};
  request.set(bhttp::field::host, target.host);
  request.set(bhttp::field::content_type, "application/json");
  request.set(bhttp::field::user_agent, "gatehouse");
  request.set(bhttp::field::connection, "close");
  request.body() = body;
  request.prepare_payload();
  tcp_layer.expires_after(timeout);
  if (auto [error, written] = co_await bhttp::async_write(stream, request, kAwait); error) {
    co_return PostOutcome{0, "write: " + error.message()};
  }
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  tcp_layer.expires_after(timeout);
  if (auto [error, read] = co_await bhttp::async_read(stream, buffer, response, kAwait); error) {
    co_return PostOutcome{0, "read: " + error.message()};
  }
  co_return PostOutcome{static_cast<int>(response.result_int()), {}};
}

asio::awaitable<PostOutcome> Post(asio::io_context& io, const Target& target,
                                  const tcp::resolver::results_type& endpoints,
                                  const std::string& body, std::chrono::milliseconds timeout) {
  if (!target.tls) {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    if (auto [error, endpoint] = co_await stream.async_connect(endpoints, kAwait); error) {
      co_return PostOutcome{0, "connect: " + error.message()};
    }
    co_return co_await Exchange(stream, stream, target, body, timeout);
  }
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.set_default_verify_paths();
  context.set_verify_mode(asio::ssl::verify_peer);
  context.set_verify_callback(asio::ssl::host_name_verification(target.host));
  beast::ssl_stream<beast::tcp_stream> stream(io, context);
  SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str());
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(timeout);
  if (auto [error, endpoint] = co_await tcp_layer.async_connect(endpoints, kAwait); error) {
    co_return PostOutcome{0, "connect: " + error.message()};
  }
  tcp_layer.expires_after(timeout);
  if (auto [error] = co_await stream.async_handshake(asio::ssl::stream_base::client, kAwait);
      error) {
    co_return PostOutcome{0, "TLS handshake: " + error.message()};
  }
  co_return co_await Exchange(stream, tcp_layer, target, body, timeout);
}

}  // namespace

PostOutcome BlockingPostJson(const std::string& url, const std::string& body,
                             std::chrono::milliseconds timeout) {
  Target target;
  if (!ParseUrl(url, target)) return {0, "not an http(s) URL"};
  try {
    asio::io_context io;
    // The name lookup blocks (getaddrinfo, bounded by the resolver's own settings); every later
    // wait runs asynchronously on `io`, each under `timeout`: Beast's deadlines bound
    // asynchronous operations only.
    tcp::resolver resolver(io);
    beast::error_code error;
    const auto endpoints = resolver.resolve(target.host, target.port, error);
    if (error) return {0, "resolve: " + error.message()};
    PostOutcome outcome{0, "not finished"};
    asio::co_spawn(io, Post(io, target, endpoints, body, timeout),
                   [&outcome](std::exception_ptr failure, PostOutcome result) {
                     if (!failure) {
                       outcome = std::move(result);
                       return;
                     }
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& exception) {
                       outcome = {0, exception.what()};
                     }
                   });
    io.run();
    return outcome;
  } catch (const std::exception& exception) {
    return {0, exception.what()};
  }
}

}  // namespace gatehouse
