#include "http/socket_deadline.h"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <optional>
#include <utility>
#include <vector>

namespace gatehouse {

namespace asio = boost::asio;
using Clock = SocketDeadline::Clock;

namespace {

// Deadlines that fall within this much after the earliest one are handled by the same sweep,
// so that many connections timing out together do not cost a pass over the list each.
constexpr std::chrono::milliseconds kSweepSlack{1};

}  // namespace

// The deadlines of one event loop and the one timer that checks them. An Asio service, so that
// it lives exactly as long as the loop; touched only from the loop's thread.
//
// The timer's wait does not count as the loop's work: a loop whose sockets are all closed or idle
// has nothing left to do even while a deadline is pending, and must be free to return from run()
// (HttpServer's loops do so at shutdown, RunEventLoop when its work is done). A wait started from
// one of the loop's handlers is taken off the loop's count of outstanding work at once and put
// back when its own handler runs. The count cannot reach zero there, which would stop the loop:
// the handler that started the wait is counted until it returns. A wait started outside the
// loop's run() (a test arming a deadline before running the loop) stays counted.
class DeadlineSweep final : public asio::execution_context::service {
 public:
  using key_type = DeadlineSweep;
  static inline asio::execution_context::id id;

  explicit DeadlineSweep(asio::io_context& io) : service(io), io_(io), timer_(std::in_place, io) {}

  // The loop is going away: no timer any more.
  void shutdown() override { timer_.reset(); }

  void Add(SocketDeadline& deadline) {
    deadline.slot_ = deadlines_.size();
    deadlines_.push_back(&deadline);
  }

  void Remove(SocketDeadline& deadline) {
    SocketDeadline* last = deadlines_.back();
    deadlines_[deadline.slot_] = last;
    last->slot_ = deadline.slot_;
    deadlines_.pop_back();
  }

  // Makes sure the timer fires no later than `when` (plus the slack).
  void Due(Clock::time_point when) {
    if (when >= armed_ || !timer_) return;
    Arm(when);
  }

 private:
  void Arm(Clock::time_point when) {
    armed_ = when;
    // Moving the expiry cancels a pending wait, whose handler then sees operation_aborted.
    timer_->expires_at(when + kSweepSlack);
    const bool uncounted = io_.get_executor().running_in_this_thread();
    timer_->async_wait([this, when, uncounted](const boost::system::error_code& ec) {
      if (uncounted) io_.get_executor().on_work_started();
      if (!ec && when == armed_) Sweep();
    });
    if (uncounted) io_.get_executor().on_work_finished();
  }

  void Sweep() {
    armed_ = Clock::time_point::max();
    const auto now = Clock::now();
    auto next = Clock::time_point::max();
    // Expiring closes sockets, whose pending operations complete later: the list does not change
    // during the pass.
    for (SocketDeadline* deadline : deadlines_) {
      if (deadline->deadline_ <= now) {
        deadline->Expire();
      } else if (deadline->deadline_ < next) {
        next = deadline->deadline_;
      }
    }
    if (next != Clock::time_point::max()) Arm(next);
  }

  asio::io_context& io_;
  std::vector<SocketDeadline*> deadlines_;
  std::optional<asio::steady_timer> timer_;             // empty once the loop has shut down
  Clock::time_point armed_ = Clock::time_point::max();  // the timer fires then; max: idle
};

SocketDeadline::SocketDeadline(asio::ip::tcp::socket& socket)
    : socket_(socket),
      sweep_(asio::use_service<DeadlineSweep>(static_cast<asio::io_context&>(
          asio::query(socket.get_executor(), asio::execution::context)))) {
  sweep_.Add(*this);
}

SocketDeadline::~SocketDeadline() { sweep_.Remove(*this); }

void SocketDeadline::ExpireAt(Clock::time_point when) {
  deadline_ = when;
  sweep_.Due(when);
}

boost::system::error_code SocketDeadline::Settle(const boost::system::error_code& ec) {
  deadline_ = Clock::time_point::max();
  if (expired_) return boost::beast::error::timeout;
  return ec;
}

void SocketDeadline::Expire() {
  deadline_ = Clock::time_point::max();
  expired_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  if (on_expire_) asio::post(socket_.get_executor(), std::exchange(on_expire_, nullptr));
}

}  // namespace gatehouse
