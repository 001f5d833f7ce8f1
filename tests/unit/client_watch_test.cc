// AwaitCompletion and StreamClientWatch on real loopback sockets driven by one io_context: the
// server side is watched, the client side closes when a test wants the client gone.
#include "http/client_watch.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <optional>

namespace gatehouse {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

struct SocketPair {
  explicit SocketPair(asio::io_context& io) : server(io), client(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  tcp::socket server;  // the watched side
  tcp::socket client;
};

// Runs `io` until `done` holds or two seconds have passed.
void RunUntil(asio::io_context& io, const std::function<bool()>& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!done() && std::chrono::steady_clock::now() < give_up) {
    io.run_for(milliseconds(10));
    io.restart();
  }
}

TEST(AwaitCompletion, ACompletionWithinTheGraceIsTrueWithoutLookingAtTheClient) {
  asio::io_context io;
  SocketPair pair(io);
  std::optional<bool> present;
  int gone = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        present = co_await AwaitCompletion(
            pair.server, [](std::function<void()> done) { done(); }, [&] { ++gone; });
      },
      asio::detached);
  RunUntil(io, [&] { return present.has_value(); });
  EXPECT_EQ(present, std::optional(true));
  EXPECT_EQ(gone, 0);
}

TEST(AwaitCompletion, AClientThatLeavesIsReportedAndTheWaitEndsWithTheCallback) {
  asio::io_context io;
  SocketPair pair(io);
  std::function<void()> finish;  // the work's completion, held until the client has left
  std::optional<bool> present;
  int gone = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        present = co_await AwaitCompletion(
            pair.server, [&](std::function<void()> done) { finish = std::move(done); },
            [&] { ++gone; });
      },
      asio::detached);
  pair.client.close();
  RunUntil(io, [&] { return gone > 0; });
  ASSERT_EQ(gone, 1);
  EXPECT_FALSE(present.has_value()) << "the wait lasts until the work has called back";
  finish();
  RunUntil(io, [&] { return present.has_value(); });
  EXPECT_EQ(present, std::optional(false));
}

TEST(StreamClientWatch, PiecesAreAwaitedWhileTheClientStays) {
  asio::io_context io;
  SocketPair pair(io);
  int gone = 0;
  std::optional<bool> first, second;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        StreamClientWatch watch(pair.server, [&] { ++gone; });
        first = co_await watch.Await([](std::function<void()> done) { done(); });
        asio::steady_timer later(io, milliseconds(20));
        second = co_await watch.Await([&](std::function<void()> done) {
          later.async_wait([done = std::move(done)](const boost::system::error_code&) { done(); });
        });
      },
      asio::detached);
  RunUntil(io, [&] { return second.has_value(); });
  EXPECT_EQ(first, std::optional(true));
  EXPECT_EQ(second, std::optional(true));
  EXPECT_EQ(gone, 0);
}

TEST(StreamClientWatch, AClientSeenLeavingEndsTheWaitAndIsAskedForNoFurtherPiece) {
  asio::io_context io;
  SocketPair pair(io);
  int gone = 0;
  int asked = 0;
  std::optional<bool> pending, next;
  std::function<void()> late;  // the first piece's completion, which never comes in time
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        StreamClientWatch watch(pair.server, [&] { ++gone; });
        pending = co_await watch.Await([&](std::function<void()> done) {
          ++asked;
          late = std::move(done);
        });
        next = co_await watch.Await([&](std::function<void()>) { ++asked; });
      },
      asio::detached);
  RunUntil(io, [&] { return asked == 1; });
  pair.client.close();
  RunUntil(io, [&] { return next.has_value(); });
  EXPECT_EQ(gone, 1);
  EXPECT_EQ(pending, std::optional(false)) << "the pending wait ends without its piece";
  EXPECT_EQ(next, std::optional(false));
  EXPECT_EQ(asked, 1) << "no further piece is asked of the source";
  late();  // a completion after the watch is gone touches nothing
  io.run_for(milliseconds(10));
}

}  // namespace
}  // namespace gatehouse
