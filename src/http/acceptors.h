#ifndef GATEHOUSE_HTTP_ACCEPTORS_H_
#define GATEHOUSE_HTTP_ACCEPTORS_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace gatehouse {

// Throws std::runtime_error("address HOST:PORT is already in use") when any socket already
// holds `endpoint` (port > 0), whatever its options: binds a probe socket without SO_REUSEPORT
// (with SO_REUSEADDR, so connections of an earlier run in TIME_WAIT do not count) and closes it.
// The per-loop acceptors all use SO_REUSEPORT to share the port among themselves, so without
// this check a second server, or any socket of the same user with SO_REUSEPORT, would silently
// share the port and take part of the connections. A socket bound between this check and the
// acceptors (a window of microseconds) is not detected.
void CheckAddressIsFree(const boost::asio::ip::tcp::endpoint& endpoint);

// Opens, binds and listens an acceptor on `endpoint` with SO_REUSEADDR and SO_REUSEPORT, so
// that one per event loop shares the port. Throws std::runtime_error naming the address.
boost::asio::ip::tcp::acceptor OpenSharedAcceptor(boost::asio::io_context& io,
                                                  const boost::asio::ip::tcp::endpoint& endpoint);

// "HOST:PORT", with brackets around an IPv6 host.
std::string AddressText(const boost::asio::ip::tcp::endpoint& endpoint);

// Raises the soft limit on open files to the hard limit (every stream holds a client and an
// upstream socket) and logs both.
void RaiseOpenFileLimit();

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_ACCEPTORS_H_
