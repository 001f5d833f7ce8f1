#ifndef GATEHOUSE_HTTP_CLIENT_WATCH_H_
#define GATEHOUSE_HTTP_CLIENT_WATCH_H_

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>

namespace gatehouse {

// Runs `start` with a completion callback and waits on the socket's loop until it is called,
// watching the client meanwhile (after a short grace period, with async_wait + MSG_PEEK on the
// raw socket, so it works under TLS too): if the client leaves, `on_gone` runs and the wait goes
// on until the callback is called (it may still touch the caller's state). True when the client
// is still there. Bytes the client sends meanwhile (a pipelined request; a TLS client's
// close_notify) are left for later reads; while they wait, the client is looked at every 100 ms,
// and a FIN behind them counts as leaving.
boost::asio::awaitable<bool> AwaitCompletion(
    boost::asio::ip::tcp::socket& socket, const std::function<void(std::function<void()>)>& start,
    const std::function<void()>& on_gone);

// Watches the client of one streamed response for as long as the stream lasts, with one wait on
// the raw socket (async_wait + MSG_PEEK, so it works under TLS too) armed at construction and
// kept across pieces (AwaitCompletion arms a timer and a socket wait, an epoll_ctl, per wait:
// thousands of concurrent streams would pay that for every event they relay). If the client
// leaves, `on_gone` runs once and the pending (or next) Await returns false without waiting for
// its callback. Bytes the client sends meanwhile are handled as by AwaitCompletion. Used on the
// socket's loop only; `socket` must outlive the watch, whose destructor cancels the socket's
// pending waits.
class StreamClientWatch {
 public:
  StreamClientWatch(boost::asio::ip::tcp::socket& socket, std::function<void()> on_gone);
  ~StreamClientWatch();
  StreamClientWatch(const StreamClientWatch&) = delete;
  StreamClientWatch& operator=(const StreamClientWatch&) = delete;

  // Runs `start` with a completion callback (which may be called later, also after the watch is
  // gone) and waits until it is called. True when the client is still there.
  boost::asio::awaitable<bool> Await(const std::function<void(std::function<void()>)>& start);

  struct State;

 private:
  boost::asio::ip::tcp::socket& socket_;
  std::shared_ptr<State> state_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_CLIENT_WATCH_H_
