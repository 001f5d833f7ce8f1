#include "http/client_watch.h"

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

// One asynchronous completion the connection waits for (an `async` handler, the next piece of
// an AsyncBodySource). Shared with the callbacks, which may run after the connection is gone.
struct Completion {
  explicit Completion(const asio::any_io_executor& executor)
      : timer(executor, std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer timer;
  bool done = false;
  bool client_gone = false;
};

// Watches `socket` for the client closing it while the connection waits on `completion`; calls
// `on_gone` once if it does.
void WatchForClose(tcp::socket& socket, std::shared_ptr<Completion> completion,
                   std::function<void()> on_gone) {
  const int fd = socket.native_handle();
  socket.async_wait(tcp::socket::wait_read, [fd, &socket, completion, on_gone = std::move(on_gone)](
                                                const boost::system::error_code& ec) mutable {
    // After an error or the end of the wait the socket may be gone: touch nothing.
    if (ec || completion->done) return;
    char byte;
    const ssize_t peeked = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (peeked > 0) return;
    if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      WatchForClose(socket, std::move(completion), std::move(on_gone));
      return;
    }
    completion->client_gone = true;
    completion->timer.cancel();
    if (on_gone) on_gone();
  });
}

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
  WatchForClose(socket, completion, on_gone);
  while (!completion->done) {
    co_await completion->timer.async_wait(kAwait);
  }
  boost::system::error_code ignored;
  socket.cancel(ignored);
  co_return !completion->client_gone;
}

struct StreamClientWatch::State {
  explicit State(const asio::any_io_executor& executor)
      : timer(executor, std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer timer;  // cancelled to wake the waiting Await
  std::function<void()> on_gone;
  std::uint64_t piece = 0;  // the serial of the piece awaited
  bool piece_done = false;  // the piece `piece` arrived
  bool client_gone = false;
  bool ended = false;  // the watch is gone: its socket may be too
};

namespace {

void WatchStreamClient(tcp::socket& socket, std::shared_ptr<StreamClientWatch::State> state) {
  const int fd = socket.native_handle();
  socket.async_wait(
      tcp::socket::wait_read, [fd, &socket, state](const boost::system::error_code& ec) mutable {
        if (ec || state->ended) return;
        char byte;
        const ssize_t peeked = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (peeked > 0) return;
        if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
          WatchStreamClient(socket, std::move(state));
          return;
        }
        state->client_gone = true;
        state->timer.cancel();
        if (auto on_gone = std::move(state->on_gone)) on_gone();
      });
}

}  // namespace

StreamClientWatch::StreamClientWatch(tcp::socket& socket, std::function<void()> on_gone)
    : socket_(socket), state_(std::make_shared<State>(socket.get_executor())) {
  state_->on_gone = std::move(on_gone);
  WatchStreamClient(socket_, state_);
}

StreamClientWatch::~StreamClientWatch() {
  state_->ended = true;
  state_->on_gone = nullptr;
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

asio::awaitable<bool> StreamClientWatch::Await(
    const std::function<void(std::function<void()>)>& start) {
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
