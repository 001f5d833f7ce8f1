#include "http/lingering_close.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/socket_deadline.h"

namespace gatehouse {

namespace asio = boost::asio;

asio::awaitable<void> LingeringClose(asio::ip::tcp::socket& socket, SocketDeadline& deadline) {
  boost::system::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  const auto until = std::chrono::steady_clock::now() + kLingerTime;
  std::array<char, 16 * 1024> discarded;
  std::size_t total = 0;
  while (total < kLingerBytes) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) break;
    deadline.ExpireAt(std::min(until, now + kLingerIdle));
    auto [ec, read] = co_await socket.async_read_some(asio::buffer(discarded),
                                                      asio::as_tuple(asio::use_awaitable));
    if (deadline.Settle(ec)) break;
    total += read;
  }
}

}  // namespace gatehouse
