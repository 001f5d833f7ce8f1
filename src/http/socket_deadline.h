#ifndef GATEHOUSE_HTTP_SOCKET_DEADLINE_H_
#define GATEHOUSE_HTTP_SOCKET_DEADLINE_H_

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <functional>

namespace gatehouse {

class DeadlineSweep;

// The time limit of one socket's operations, as Beast's tcp_stream keeps one, checked by one
// timer per event loop instead of a timer armed and cancelled around every read and write.
// Arming stores a time point; the loop's timer fires only at the earliest deadline it knows of
// (and a deadline moved later costs nothing), then closes the sockets whose deadline has passed
// and sleeps until the next one. A deadline is at most about a millisecond late.
//
// When the deadline passes the socket is closed, which ends the operation pending on it (if any)
// and every later one; Settle then reports beast::error::timeout. Used on the socket's event loop
// only; `socket` must outlive the deadline, and its loop must be an io_context.
class SocketDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SocketDeadline(boost::asio::ip::tcp::socket& socket);
  ~SocketDeadline();
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;

  // Bounds the operations started from now until Settle: the socket is closed at `when` if it
  // has not been settled by then. A time already past closes it at the loop's next turn.
  void ExpireAt(Clock::time_point when);
  void ExpireAfter(Clock::duration wait) { ExpireAt(Clock::now() + wait); }

  // Ends the bound after an operation and returns its outcome: `ec`, or beast::error::timeout
  // once the deadline has closed the socket (for good: a timed-out socket stays closed).
  boost::system::error_code Settle(const boost::system::error_code& ec);

  bool expired() const { return expired_; }

  // Runs `then` once the deadline has closed the socket, in a handler of its own on the loop
  // (never inside the sweep, which may not see its list change): for an owner that must let go
  // of the socket then, as the upstream pool does with a connection idle too long. Replaces the
  // previous one; null for none.
  void OnExpire(std::function<void()> then) { on_expire_ = std::move(then); }

 private:
  friend class DeadlineSweep;

  // Closes the socket; called by the sweep when the deadline has passed.
  void Expire();

  boost::asio::ip::tcp::socket& socket_;
  DeadlineSweep& sweep_;
  Clock::time_point deadline_ = Clock::time_point::max();  // max: not armed
  std::size_t slot_ = 0;                                   // position in the sweep's list
  bool expired_ = false;
  std::function<void()> on_expire_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_SOCKET_DEADLINE_H_
