// SocketDeadline and its per-loop sweep, on real loopback sockets driven by one io_context.
#include "http/socket_deadline.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

namespace gatehouse {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = SocketDeadline::Clock;
using std::chrono::milliseconds;

// A connected pair of loopback sockets on `io`.
struct SocketPair {
  explicit SocketPair(asio::io_context& io) : near(io), far(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    near.connect(acceptor.local_endpoint());
    acceptor.accept(far);
  }
  tcp::socket near;  // the side whose deadline is tested
  tcp::socket far;   // the peer, which sends when a test wants a read to succeed
};

// One side of a socket pair under a deadline, and the settled outcome of one read on it.
struct GuardedSocket {
  explicit GuardedSocket(asio::io_context& io) : pair(io), deadline(pair.near) {}

  void StartRead() {
    buffer.resize(64);
    pair.near.async_read_some(asio::buffer(buffer),
                              [this](const boost::system::error_code& ec, std::size_t) {
                                outcome = deadline.Settle(ec);
                                read_at = Clock::now();
                              });
  }

  SocketPair pair;
  SocketDeadline deadline;
  std::optional<boost::system::error_code> outcome;  // set once the read has completed
  Clock::time_point read_at;
  std::vector<char> buffer;
};

TEST(SocketDeadlineTest, ReadPastItsDeadlineEndsWithTimeoutAndClosesTheSocket) {
  asio::io_context io;
  GuardedSocket socket(io);
  const auto started = Clock::now();
  // Armed from a handler, as the server and the upstream client arm theirs.
  asio::post(io, [&] {
    socket.deadline.ExpireAfter(milliseconds(50));
    socket.StartRead();
  });
  io.run_for(std::chrono::seconds(5));

  ASSERT_TRUE(socket.outcome.has_value());
  EXPECT_EQ(*socket.outcome, boost::beast::error::timeout);
  EXPECT_GE(socket.read_at - started, milliseconds(50));
  EXPECT_LT(socket.read_at - started, milliseconds(1000));
  EXPECT_TRUE(socket.deadline.expired());
  EXPECT_FALSE(socket.pair.near.is_open());
}

TEST(SocketDeadlineTest, ReadThatCompletesInTimeIsNotATimeout) {
  asio::io_context io;
  GuardedSocket socket(io);
  socket.deadline.ExpireAfter(milliseconds(1000));
  socket.StartRead();
  asio::write(socket.pair.far, asio::buffer("x", 1));
  // Runs past the deadline: a settled deadline must not close the socket afterwards.
  io.run_for(milliseconds(1500));

  ASSERT_TRUE(socket.outcome.has_value());
  EXPECT_FALSE(*socket.outcome);
  EXPECT_FALSE(socket.deadline.expired());
  EXPECT_TRUE(socket.pair.near.is_open());
}

TEST(SocketDeadlineTest, DeadlineMovedLaterIsKeptToTheLaterTime) {
  asio::io_context io;
  GuardedSocket socket(io);
  socket.deadline.ExpireAfter(milliseconds(30));
  socket.deadline.ExpireAfter(milliseconds(1000));  // the loop's timer still fires at 30 ms
  socket.StartRead();
  asio::steady_timer send(io, milliseconds(150));
  send.async_wait([&](const boost::system::error_code&) {
    asio::write(socket.pair.far, asio::buffer("x", 1));
  });
  io.run_for(milliseconds(2000));

  ASSERT_TRUE(socket.outcome.has_value());
  EXPECT_FALSE(*socket.outcome) << socket.outcome->message();
  EXPECT_TRUE(socket.pair.near.is_open());
}

TEST(SocketDeadlineTest, EarlierDeadlineOfAnotherSocketIsNotDelayedByALaterOne) {
  asio::io_context io;
  GuardedSocket slow(io), quick(io);
  const auto started = Clock::now();
  asio::post(io, [&] {
    slow.deadline.ExpireAfter(std::chrono::seconds(10));  // arms the loop's timer for 10 s
    quick.deadline.ExpireAfter(milliseconds(50));         // must bring it forward
    slow.StartRead();
    quick.StartRead();
  });
  io.run_for(milliseconds(1500));

  ASSERT_TRUE(quick.outcome.has_value());
  EXPECT_EQ(*quick.outcome, boost::beast::error::timeout);
  EXPECT_LT(quick.read_at - started, milliseconds(1000));
  EXPECT_FALSE(slow.outcome.has_value());
  EXPECT_TRUE(slow.pair.near.is_open());
}

TEST(SocketDeadlineTest, PassedDeadlinesExpireTogetherAndTheOthersStayOpen) {
  asio::io_context io;
  constexpr int kSockets = 60;
  std::vector<std::unique_ptr<GuardedSocket>> sockets;
  for (int i = 0; i < kSockets; ++i) sockets.push_back(std::make_unique<GuardedSocket>(io));
  // Every third is destroyed before anything expires: the sweep's list must stay whole.
  for (int i = 0; i < kSockets; i += 3) sockets[i].reset();
  asio::post(io, [&] {
    for (int i = 0; i < kSockets; ++i) {
      if (!sockets[i]) continue;
      sockets[i]->deadline.ExpireAfter(i % 2 == 0 ? milliseconds(40 + i)
                                                  : std::chrono::seconds(30));
      sockets[i]->StartRead();
    }
  });
  io.run_for(milliseconds(1500));

  for (int i = 0; i < kSockets; ++i) {
    if (!sockets[i]) continue;
    if (i % 2 == 0) {
      ASSERT_TRUE(sockets[i]->outcome.has_value()) << i;
      EXPECT_EQ(*sockets[i]->outcome, boost::beast::error::timeout) << i;
      EXPECT_FALSE(sockets[i]->pair.near.is_open()) << i;
    } else {
      EXPECT_FALSE(sockets[i]->outcome.has_value()) << i;
      EXPECT_FALSE(sockets[i]->deadline.expired()) << i;
      EXPECT_TRUE(sockets[i]->pair.near.is_open()) << i;
    }
  }
}

TEST(SocketDeadlineTest, PendingDeadlineDoesNotKeepALoopWithNothingElseToDoRunning) {
  asio::io_context io;
  GuardedSocket socket(io);
  asio::post(io, [&] { socket.deadline.ExpireAfter(std::chrono::seconds(30)); });
  const auto started = Clock::now();
  io.run();  // returns once the posted handler has run: the timer's wait is not work

  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
  EXPECT_FALSE(socket.deadline.expired());
  EXPECT_TRUE(socket.pair.near.is_open());
}

TEST(SocketDeadlineTest, LoopStaysUsableAfterADeadlineArmedFromItsHandlers) {
  asio::io_context io;
  GuardedSocket socket(io);
  // A deadline armed and settled in one handler, then a read armed in the next: the loop must
  // neither stop early nor lose the second deadline.
  asio::post(io, [&] {
    socket.deadline.ExpireAfter(std::chrono::seconds(30));
    socket.deadline.Settle({});
    asio::post(io, [&] {
      socket.deadline.ExpireAfter(milliseconds(40));
      socket.StartRead();
    });
  });
  io.run_for(std::chrono::seconds(5));

  ASSERT_TRUE(socket.outcome.has_value());
  EXPECT_EQ(*socket.outcome, boost::beast::error::timeout);
}

TEST(SocketDeadlineTest, DeadlineAlreadyPastClosesAtTheLoopsNextTurn) {
  asio::io_context io;
  GuardedSocket socket(io);
  socket.deadline.ExpireAt(Clock::now() - milliseconds(5));
  EXPECT_TRUE(socket.pair.near.is_open());  // nothing happens outside the loop
  io.run_for(std::chrono::seconds(2));

  EXPECT_TRUE(socket.deadline.expired());
  EXPECT_FALSE(socket.pair.near.is_open());
  EXPECT_EQ(socket.deadline.Settle({}), boost::beast::error::timeout);
}

}  // namespace
}  // namespace gatehouse
