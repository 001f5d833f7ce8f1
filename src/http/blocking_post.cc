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
#include <string>
#include <string_view>

#include "core/url.h"

namespace gatehouse {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// Each wait (connect, handshake, write, read) is bounded by `timeout`: the stream closes its
// socket when it passes, which ends the operation with a timeout error.
template <typename Stream>
asio::awaitable<PostOutcome> Exchange(Stream& stream, beast::tcp_stream& tcp_layer,
                                      const ParsedUrl& url, const std::string& body,
                                      std::chrono::milliseconds timeout) {
  bhttp::request<bhttp::string_body> request{bhttp::verb::post, url.target, 11};
  request.set(bhttp::field::host, url.HostHeader());
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

asio::awaitable<PostOutcome> Post(asio::io_context& io, const ParsedUrl& url,
                                  const tcp::resolver::results_type& endpoints,
                                  const std::string& body, std::chrono::milliseconds timeout) {
  if (!url.tls) {
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    if (auto [error, endpoint] = co_await stream.async_connect(endpoints, kAwait); error) {
      co_return PostOutcome{0, "connect: " + error.message()};
    }
    co_return co_await Exchange(stream, stream, url, body, timeout);
  }
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.set_default_verify_paths();
  context.set_verify_mode(asio::ssl::verify_peer);
  const std::string name(url.name());
  context.set_verify_callback(asio::ssl::host_name_verification(name));
  beast::ssl_stream<beast::tcp_stream> stream(io, context);
  if (!url.IsAddress()) SSL_set_tlsext_host_name(stream.native_handle(), name.c_str());
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
  co_return co_await Exchange(stream, tcp_layer, url, body, timeout);
}

}  // namespace

PostOutcome BlockingPostJson(const std::string& url, const std::string& body,
                             std::chrono::milliseconds timeout) {
  const auto parsed = ParseUrl(url);
  if (!parsed) return {0, "not an http(s) URL"};
  try {
    asio::io_context io;
    // The name lookup blocks (getaddrinfo, bounded by the resolver's own settings); every later
    // wait runs asynchronously on `io`, each under `timeout`: Beast's deadlines bound
    // asynchronous operations only.
    tcp::resolver resolver(io);
    beast::error_code error;
    const auto endpoints = resolver.resolve(parsed->host, parsed->port, error);
    if (error) return {0, "resolve: " + error.message()};
    PostOutcome outcome{0, "not finished"};
    asio::co_spawn(io, Post(io, *parsed, endpoints, body, timeout),
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
