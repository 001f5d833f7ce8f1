#include "http/acceptors.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cstdint>
#include <stdexcept>

namespace gatehouse {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::string AddressText(const tcp::endpoint& endpoint) {
  const std::string host = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + host + "]:" + port : host + ":" + port;
}

void CheckAddressIsFree(const tcp::endpoint& endpoint) {
  if (endpoint.port() == 0) return;
  asio::io_context io;
  tcp::acceptor probe(io);
  boost::system::error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec == asio::error::address_in_use) {
    throw std::runtime_error("address " + AddressText(endpoint) + " is already in use");
  }
  if (ec) {
    throw std::runtime_error("cannot listen on " + AddressText(endpoint) + ": " + ec.message());
  }
}

tcp::acceptor OpenSharedAcceptor(asio::io_context& io, const tcp::endpoint& endpoint) {
  tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.set_option(ReusePort(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == asio::error::address_in_use) {
    throw std::runtime_error("address " + AddressText(endpoint) + " is already in use");
  }
  if (ec) {
    throw std::runtime_error("cannot listen on " + AddressText(endpoint) + ": " + ec.message());
  }
  return acceptor;
}

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

}  // namespace gatehouse
