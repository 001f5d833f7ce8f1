#include "http/blocking_post.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
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

template <typename Stream>
PostOutcome Exchange(Stream& stream, beast::tcp_stream& tcp_layer, const Target& target,
                     const std::string& body, std::chrono::milliseconds timeout) {
  bhttp::request<bhttp::string_body> request{bhttp::verb::post, target.path, 11};
  request.set(bhttp::field::host, target.host);
  request.set(bhttp::field::content_type, "application/json");
  request.set(bhttp::field::user_agent, "gatehouse");
  request.set(bhttp::field::connection, "close");
  request.body() = body;
  request.prepare_payload();
  tcp_layer.expires_after(timeout);
  beast::error_code error;
  bhttp::write(stream, request, error);
  if (error) return {0, "write: " + error.message()};
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  tcp_layer.expires_after(timeout);
  bhttp::read(stream, buffer, response, error);
  if (error) return {0, "read: " + error.message()};
  return {static_cast<int>(response.result_int()), {}};
}

}  // namespace

PostOutcome BlockingPostJson(const std::string& url, const std::string& body,
                             std::chrono::milliseconds timeout) {
  Target target;
  if (!ParseUrl(url, target)) return {0, "not an http(s) URL"};
  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::error_code error;
    const auto endpoints = resolver.resolve(target.host, target.port, error);
    if (error) return {0, "resolve: " + error.message()};
    if (!target.tls) {
      beast::tcp_stream stream(io);
      stream.expires_after(timeout);
      stream.connect(endpoints, error);
      if (error) return {0, "connect: " + error.message()};
      return Exchange(stream, stream, target, body, timeout);
    }
    asio::ssl::context context(asio::ssl::context::tls_client);
    context.set_default_verify_paths();
    context.set_verify_mode(asio::ssl::verify_peer);
    context.set_verify_callback(asio::ssl::host_name_verification(target.host));
    beast::ssl_stream<beast::tcp_stream> stream(io, context);
    SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str());
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).connect(endpoints, error);
    if (error) return {0, "connect: " + error.message()};
    stream.handshake(asio::ssl::stream_base::client, error);
    if (error) return {0, "TLS handshake: " + error.message()};
    return Exchange(stream, beast::get_lowest_layer(stream), target, body, timeout);
  } catch (const std::exception& exception) {
    return {0, exception.what()};
  }
}

}  // namespace gatehouse
