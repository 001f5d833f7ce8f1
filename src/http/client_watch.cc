#include "http/client_watch.h"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>

namespace gatehouse {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// How long an asynchronous response may take before the server starts watching its client.
constexpr std::chrono::milliseconds kWatchGrace{50};
// How often a client that has sent bytes the server has not read yet is looked at again: a wait
// on its socket would end at once while they are there.
constexpr std::chrono::milliseconds kRecheckEvery{100};

// What the client of a waiting response has done, seen without reading anything.
enum class ClientSide {
  kQuiet,     // nothing
  kSentMore,  // sent bytes (a pipelined request) that wait to be read, and is still there
  kGone,      // closed (a FIN, also behind unread bytes: a TLS client sends its close_notify
              // first) or reset the connection
};

ClientSide Probe(int fd) {
  char byte;
  const ssize_t peeked = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (peeked < 0) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? ClientSide::kQuiet
                                                                     : ClientSide::kGone;
  }
  if (peeked == 0) return ClientSide::kGone;
  pollfd hangup{fd, POLLRDHUP, 0};
  if (::poll(&hangup, 1, 0) > 0 && (hangup.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
    return ClientSide::kGone;
  }
  return ClientSide::kSentMore;
}

template <typename State>
void Judge(tcp::socket& socket, std::shared_ptr<State> state);

// Watches `socket` for its client leaving, until `state` is over (Over()); calls state->Gone()
// once if it does. A wait on the socket while nothing is there; a look every kRecheckEvery while
// unread bytes are. After an error, a cancel or the state's end the socket may be gone: the
// handlers touch nothing then.
template <typename State>
void Watch(tcp::socket& socket, std::shared_ptr<State> state) {
  socket.async_wait(tcp::socket::wait_read,
                    [&socket, state](const boost::system::error_code& ec) mutable {
                      if (ec || state->Over()) return;
                      Judge(socket, std::move(state));
                    });
}

template <typename State>
void Recheck(tcp::socket& socket, std::shared_ptr<State> state) {
  state->recheck.expires_after(kRecheckEvery);
  state->recheck.async_wait([&socket, state](const boost::system::error_code& ec) mutable {
    if (ec || state->Over()) return;
    Judge(socket, std::move(state));
  });
}

// Looks at the client and goes on watching it the way that fits, or reports it gone.
template <typename State>
void Judge(tcp::socket& socket, std::shared_ptr<State> state) {
  switch (Probe(socket.native_handle())) {
    case ClientSide::kQuiet:
      return Watch(socket, std::move(state));
    case ClientSide::kSentMore:
      return Recheck(socket, std::move(state));
    case ClientSide::kGone:
      return state->Gone();
  }
}

// One asynchronous completion the connection waits for (an `async` handler, the next piece of
// an AsyncBodySource). Shared with the callbacks, which may run after the connection is gone.
struct Completion {
  explicit Completion(const asio::any_io_executor& executor)
      : timer(executor, std::chrono::steady_clock::time_point::max()), recheck(executor) {}
  bool Over() const { return done; }
  void Gone() {
    client_gone = true;
    timer.cancel();
    if (on_gone) on_gone();
  }

  asio::steady_timer timer;
  asio::steady_timer recheck;  // the next look at a client with unread bytes
  std::function<void()> on_gone;
  bool done = false;
  bool client_gone = false;
};

}  // namespace

asio::awaitable<bool> AwaitCompletion(tcp::socket& socket,
                                      const std::function<void(std::function<void()>)>& start,
                                      const std::function<void()>& on_gone) {
  auto completion = std::make_shared<Completion>(socket.get_executor());
  start([completion] {
    completion->done = true;
    completion->timer.cancel();
  });
  if (completion->done) co_return true;
  // Most completions come within the grace period; watching the socket costs a system call, so
  // it starts only after it.
  completion->timer.expires_after(kWatchGrace);
  co_await completion->timer.async_wait(kAwait);
  if (completion->done) co_return true;
  completion->timer.expires_at(std::chrono::steady_clock::time_point::max());
  // Read only now: `start` may have set what to call.
  completion->on_gone = on_gone;
  Watch(socket, completion);
  while (!completion->done) {
    co_await completion->timer.async_wait(kAwait);
  }
  boost::system::error_code ignored;
  socket.cancel(ignored);
  completion->recheck.cancel();
  co_return !completion->client_gone;
}

struct StreamClientWatch::State {
  explicit State(const asio::any_io_executor& executor)
      : timer(executor, std::chrono::steady_clock::time_point::max()), recheck(executor) {}
  bool Over() const { return ended; }
  void Gone() {
    client_gone = true;
    timer.cancel();
    if (auto gone = std::move(on_gone)) gone();
  }

  asio::steady_timer timer;    // cancelled to wake the waiting Await
  asio::steady_timer recheck;  // the next look at a client with unread bytes
  std::function<void()> on_gone;
  std::uint64_t piece = 0;  // the serial of the piece awaited
  bool piece_done = false;  // the piece `piece` arrived
  bool client_gone = false;
  bool ended = false;  // the watch is gone: its socket may be too
};

StreamClientWatch::StreamClientWatch(tcp::socket& socket, std::function<void()> on_gone)
    : socket_(socket), state_(std::make_shared<State>(socket.get_executor())) {
  state_->on_gone = std::move(on_gone);
  Watch(socket_, state_);
}

StreamClientWatch::~StreamClientWatch() {
  state_->ended = true;
  state_->on_gone = nullptr;
  boost::system::error_code ignored;
  socket_.cancel(ignored);
  state_->recheck.cancel();
}

asio::awaitable<bool> StreamClientWatch::Await(
    const std::function<void(std::function<void()>)>& start) {
  // A client seen leaving during the last write gets no further piece (the source was aborted).
  if (state_->client_gone) co_return false;
  const std::uint64_t piece = ++state_->piece;
  state_->piece_done = false;
  start([state = state_, piece] {
    if (state->piece != piece) return;
    state->piece_done = true;
    state->timer.cancel();
  });
  while (!state_->piece_done && !state_->client_gone) {
    co_await state_->timer.async_wait(kAwait);
  }
  co_return !state_->client_gone;
}

}  // namespace gatehouse
