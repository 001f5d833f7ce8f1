#ifndef GATEHOUSE_HTTP_CLIENT_WATCH_H_
#define GATEHOUSE_HTTP_CLIENT_WATCH_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>

namespace gatehouse {

// Runs `start` with a completion callback and waits on the socket's loop until it is called,
// watching the client meanwhile (after a short grace period, with async_wait + MSG_PEEK on the
// raw socket, so it works under TLS too): if the client leaves, `on_gone` runs and the wait goes
// on only when `wait_after_gone` (the callback then still touches the caller's state). True when
// the client is still there. Pipelined bytes end the watch (they are read later).
boost::asio::awaitable<bool> AwaitCompletion(
    boost::asio::ip::tcp::socket& socket, const std::function<void(std::function<void()>)>& start,
    const std::function<void()>& on_gone, bool wait_after_gone);

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_CLIENT_WATCH_H_
