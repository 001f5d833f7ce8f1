#include "http/lingering_close.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gatehouse {

namespace asio = boost::asio;

asio::awaitable<void> LingeringClose(boost::beast::tcp_stream& stream) {
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  const auto deadline = std::chrono::steady_clock::now() + kLingerTime;
  std::array<char, 16 * 1024> discarded;
  std::size_t total = 0;
  while (total < kLingerBytes) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    stream.expires_at(std::min(deadline, now + kLingerIdle));
    auto [ec, read] = co_await stream.async_read_some(asio::buffer(discarded),
                                                      asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    total += read;
  }
}

}  // namespace gatehouse
