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

// One read on `socket` under `deadline`: its settled outcome and when it completed.
struct ReadOutcome {
  std::optional<boost::system::error_code> ec;
  Clock::time_point at;
};

void StartRead(tcp::socket& socket, SocketDeadline& deadline, ReadOutcome& outcome,
               std::vector<char>& buffer) {
  buffer.resize(64);
  socket.async_read_some(asio::buffer(buffer),
                         [&](const boost::system::error_code& ec, std::size_t) {
                           outcome.ec = deadline.Settle(ec);
                           outcome.at = Clock::now();
                         });
}

TEST(SocketDeadlineTest, ReadPastItsDeadlineEndsWithTimeoutAndClosesTheSocket) {
  asio::io_context io;
  SocketPair pair(io);
  SocketDeadline deadline(pair.near);
  ReadOutcome outcome;
  std::vector<char> buffer;
  const auto started = Clock::now();
  // Armed from a handler, as the server and the upstream client arm theirs.
  asio::post(io, [&] {
    deadline.ExpireAfter(milliseconds(50));
    StartRead(pair.near, deadline, outcome, buffer);
  });
  io.run_for(std::chrono::seconds(5));

  ASSERT_TRUE(outcome.ec.has_value());
  EXPECT_EQ(*outcome.ec, boost::beast::error::timeout);
  EXPECT_GE(outcome.at - started, milliseconds(50));
  EXPECT_LT(outcome.at - started, milliseconds(1000));
  EXPECT_TRUE(deadline.expired());
  EXPECT_FALSE(pair.near.is_open());
}

TEST(SocketDeadlineTest, ReadThatCompletesInTimeIsNotATimeout) {
  asio::io_context io;
  SocketPair pair(io);
  SocketDeadline deadline(pair.near);
  ReadOutcome outcome;
  std::vector<char> buffer;
  deadline.ExpireAfter(milliseconds(200));
  StartRead(pair.near, deadline, outcome, buffer);
  asio::write(pair.far, asio::buffer("x", 1));
  // Runs past the deadline: a settled deadline must not close the socket afterwards.
  io.run_for(milliseconds(400));

  ASSERT_TRUE(outcome.ec.has_value());
  EXPECT_FALSE(*outcome.ec);
  EXPECT_FALSE(deadline.expired());
  EXPECT_TRUE(pair.near.is_open());
}

TEST(SocketDeadlineTest, DeadlineMovedLaterIsKeptToTheLaterTime) {
  asio::io_context io;
  SocketPair pair(io);
  SocketDeadline deadline(pair.near);
  ReadOutcome outcome;
  std::vector<char> buffer;
  deadline.ExpireAfter(milliseconds(30));
  deadline.ExpireAfter(milliseconds(300));  // the loop's timer still fires at 30 ms
  StartRead(pair.near, deadline, outcome, buffer);
  asio::steady_timer send(io, milliseconds(150));
  send.async_wait(
      [&](const boost::system::error_code&) { asio::write(pair.far, asio::buffer("x", 1)); });
  io.run_for(milliseconds(500));

  ASSERT_TRUE(outcome.ec.has_value());
  EXPECT_FALSE(*outcome.ec) << outcome.ec->message();
  EXPECT_TRUE(pair.near.is_open());
}

TEST(SocketDeadlineTest, EarlierDeadlineOfAnotherSocketIsNotDelayedByALaterOne) {
  asio::io_context io;
  SocketPair slow(io), quick(io);
  SocketDeadline slow_deadline(slow.near), quick_deadline(quick.near);
  ReadOutcome slow_outcome, quick_outcome;
  std::vector<char> slow_buffer, quick_buffer;
  const auto started = Clock::now();
  asio::post(io, [&] {
    slow_deadline.ExpireAfter(std::chrono::seconds(10));  // arms the loop's timer for 10 s
    quick_deadline.ExpireAfter(milliseconds(50));         // must bring it forward
    StartRead(slow.near, slow_deadline, slow_outcome, slow_buffer);
    StartRead(quick.near, quick_deadline, quick_outcome, quick_buffer);
  });
  io.run_for(milliseconds(600));

  ASSERT_TRUE(quick_outcome.ec.has_value());
  EXPECT_EQ(*quick_outcome.ec, boost::beast::error::timeout);
  EXPECT_LT(quick_outcome.at - started, milliseconds(500));
  EXPECT_FALSE(slow_outcome.ec.has_value());
  EXPECT_TRUE(slow.near.is_open());
}

TEST(SocketDeadlineTest, PassedDeadlinesExpireTogetherAndTheOthersStayOpen) {
  asio::io_context io;
  constexpr int kPairs = 60;
  std::vector<std::unique_ptr<SocketPair>> pairs;
  std::vector<std::unique_ptr<SocketDeadline>> deadlines;
  std::vector<ReadOutcome> outcomes(kPairs);
  std::vector<std::vector<char>> buffers(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(std::make_unique<SocketPair>(io));
    deadlines.push_back(std::make_unique<SocketDeadline>(pairs.back()->near));
  }
  // Every third is destroyed before anything expires: the sweep's list must stay whole.
  for (int i = 0; i < kPairs; i += 3) deadlines[i].reset();
  asio::post(io, [&] {
    for (int i = 0; i < kPairs; ++i) {
      if (!deadlines[i]) continue;
      deadlines[i]->ExpireAfter(i % 2 == 0 ? milliseconds(40 + i) : std::chrono::seconds(30));
      StartRead(pairs[i]->near, *deadlines[i], outcomes[i], buffers[i]);
    }
  });
  io.run_for(milliseconds(400));

  for (int i = 0; i < kPairs; ++i) {
    if (!deadlines[i]) {
      EXPECT_TRUE(pairs[i]->near.is_open()) << i;
    } else if (i % 2 == 0) {
      ASSERT_TRUE(outcomes[i].ec.has_value()) << i;
      EXPECT_EQ(*outcomes[i].ec, boost::beast::error::timeout) << i;
      EXPECT_FALSE(pairs[i]->near.is_open()) << i;
    } else {
      EXPECT_FALSE(outcomes[i].ec.has_value()) << i;
      EXPECT_FALSE(deadlines[i]->expired()) << i;
      EXPECT_TRUE(pairs[i]->near.is_open()) << i;
    }
  }
}

TEST(SocketDeadlineTest, PendingDeadlineDoesNotKeepALoopWithNothingElseToDoRunning) {
  asio::io_context io;
  SocketPair pair(io);
  SocketDeadline deadline(pair.near);
  asio::post(io, [&] { deadline.ExpireAfter(std::chrono::seconds(30)); });
  const auto started = Clock::now();
  io.run();  // returns once the posted handler has run: the timer's wait is not work

  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
  EXPECT_FALSE(deadline.expired());
  EXPECT_TRUE(pair.near.is_open());
}

TEST(SocketDeadlineTest, LoopStaysUsableAfterADeadlineArmedFromItsHandlers) {
  asio::io_context io;
  SocketPair pair(io);
  SocketDeadline deadline(pair.near);
  ReadOutcome outcome;
  std::vector<char> buffer;
  // A deadline armed and settled in one handler, then a read armed in the next: the loop must
  // neither stop early nor lose the second deadline.
  asio::post(io, [&] {
    deadline.ExpireAfter(std::chrono::seconds(30));
    deadline.Settle({});
    asio::post(io, [&] {
      deadline.ExpireAfter(milliseconds(40));
      StartRead(pair.near, deadline, outcome, buffer);
    });
  });
  io.run_for(std::chrono::seconds(5));

  ASSERT_TRUE(outcome.ec.has_value());
  EXPECT_EQ(*outcome.ec, boost::beast::error::timeout);
}

TEST(SocketDeadlineTest, DeadlineAlreadyPastClosesAtTheLoopsNextTurn) {
  asio::io_context io;
  SocketPair pair(io);
  SocketDeadline deadline(pair.near);
  deadline.ExpireAt(Clock::now() - milliseconds(5));
  EXPECT_TRUE(pair.near.is_open());  // nothing happens outside the loop
  io.run_for(milliseconds(100));

  EXPECT_TRUE(deadline.expired());
  EXPECT_FALSE(pair.near.is_open());
  EXPECT_EQ(deadline.Settle({}), boost::beast::error::timeout);
}

}  // namespace
}  // namespace gatehouse
