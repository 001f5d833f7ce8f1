// DrainingBuffer and DrainingSocket (http/draining_read.h) on real loopback sockets. A binary of
// its own: it defines recv() and recvmsg() to count the reads made on the socket under test, and
// passes every call on to the next definition (libc's, or the sanitizer's).
#include "http/draining_read.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace {

std::atomic<int> watched_descriptor{-1};
std::atomic<int> recv_calls{0};

}  // namespace

extern "C" ssize_t recv(int descriptor, void* buffer, size_t size, int flags) {
  using Recv = ssize_t (*)(int, void*, size_t, int);
  static const auto next = reinterpret_cast<Recv>(dlsym(RTLD_NEXT, "recv"));
  if (descriptor == watched_descriptor.load()) ++recv_calls;
  return next(descriptor, buffer, size, flags);
}

extern "C" ssize_t recvmsg(int descriptor, msghdr* message, int flags) {
  using RecvMsg = ssize_t (*)(int, msghdr*, int);
  static const auto next = reinterpret_cast<RecvMsg>(dlsym(RTLD_NEXT, "recvmsg"));
  if (descriptor == watched_descriptor.load()) ++recv_calls;
  return next(descriptor, message, flags);
}

namespace gatehouse {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using std::chrono::seconds;

// A connected pair of loopback sockets on `io`; `near` is the one read and counted.
template <typename NearSocket>
struct SocketPair {
  explicit SocketPair(asio::io_context& io, bool report_queue = true) : near(io), far(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    far.connect(acceptor.local_endpoint());
    acceptor.accept(near);
    if constexpr (!std::is_same_v<NearSocket, tcp::socket>) {
      if (report_queue) near.ReportReceiveQueue();
    }
    watched_descriptor = near.native_handle();
    recv_calls = 0;
  }
  ~SocketPair() { watched_descriptor = -1; }

  void Send(const std::string& bytes) { asio::write(far, asio::buffer(bytes)); }

  NearSocket near;
  tcp::socket far;
};

// The outcome of one read, once it has completed.
struct Read {
  std::vector<char> buffer;
  std::optional<boost::system::error_code> error;
  std::size_t bytes = 0;

  auto Handler() {
    return [this](const boost::system::error_code& ec, std::size_t n) {
      error = ec;
      bytes = n;
    };
  }
  std::string Text() const { return std::string(buffer.data(), bytes); }
};

// Starts a read of up to `size` bytes on a DrainingSocket (or a plain socket, for comparison).
template <typename Socket>
void StartRead(Socket& socket, Read& read, std::size_t size) {
  read.buffer.resize(size);
  socket.async_read_some(asio::buffer(read.buffer), read.Handler());
}

// Runs `io` until `read` completes, for at most two seconds.
bool Complete(asio::io_context& io, const Read& read) {
  const auto until = std::chrono::steady_clock::now() + seconds(2);
  while (!read.error && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(50));
  }
  return read.error.has_value();
}

// The peer sends `text` and the near side reads all of it.
template <typename Socket>
void SendAndRead(asio::io_context& io, SocketPair<Socket>& pair, const std::string& text) {
  pair.Send(text);
  Read read;
  StartRead(pair.near, read, 64);
  ASSERT_TRUE(Complete(io, read));
  EXPECT_EQ(read.Text(), text);
}

// Reads what the peer sent, then starts the next read while the socket is empty and returns the
// recv calls that read makes before the peer sends again (Asio's speculative attempt, or none).
// The read must still take what comes next, with one call.
template <typename Socket>
int AttemptsOnAnEmptySocket(asio::io_context& io, SocketPair<Socket>& pair) {
  SendAndRead(io, pair, "abc");
  recv_calls = 0;
  Read second;
  StartRead(pair.near, second, 64);
  io.restart();
  io.poll();
  EXPECT_FALSE(second.error.has_value());
  const int attempts = recv_calls.load();
  pair.Send("de");
  EXPECT_TRUE(Complete(io, second));
  EXPECT_EQ(second.Text(), "de");
  EXPECT_EQ(recv_calls.load(), attempts + 1);
  return attempts;
}

// Asio's speculative attempt exists on its epoll reactor only.
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
constexpr bool kEpollReactor = false;
#else
constexpr bool kEpollReactor = true;
#endif

TEST(DrainingReadTest, AReadThatEmptiesTheSocketSkipsTheNextSpeculativeRecv) {
  if (!GATEHOUSE_DRAINING_READS) {
    GTEST_SKIP() << "Boost " << BOOST_LIB_VERSION << " (or not epoll): no draining reads here";
  }
  asio::io_context io;
  SocketPair<DrainingSocket<tcp::socket>> pair(io);
  EXPECT_EQ(AttemptsOnAnEmptySocket(io, pair), 0);
}

// The controls for the test above: the counter sees Asio's own speculative attempt.
TEST(DrainingReadTest, APlainSocketStillTriesEveryReadFirst) {
  if (!kEpollReactor) GTEST_SKIP() << "Asio on io_uring: no speculative reads";
  asio::io_context io;
  SocketPair<tcp::socket> pair(io);
  EXPECT_EQ(AttemptsOnAnEmptySocket(io, pair), 1);
}

TEST(DrainingReadTest, ASocketWithoutTheQueueReportStillTriesEveryReadFirst) {
  if (!kEpollReactor) GTEST_SKIP() << "Asio on io_uring: no speculative reads";
  asio::io_context io;
  SocketPair<DrainingSocket<tcp::socket>> pair(io, /*report_queue=*/false);
  EXPECT_EQ(AttemptsOnAnEmptySocket(io, pair), 1);
}

TEST(DrainingReadTest, AReadThatFillsItsBufferLeavesTheRestReadableWithoutNewData) {
  asio::io_context io;
  SocketPair<DrainingSocket<tcp::socket>> pair(io);
  pair.Send(std::string(100, 'x'));
  std::size_t total = 0;
  for (const std::size_t size : {40, 40, 64}) {
    Read read;
    StartRead(pair.near, read, size);
    ASSERT_TRUE(Complete(io, read)) << "a read after " << total << " bytes waited for more data";
    ASSERT_FALSE(*read.error);
    total += read.bytes;
  }
  EXPECT_EQ(total, 100u);
}

TEST(DrainingReadTest, DataThatArrivesBeforeTheNextReadStartsIsRead) {
  asio::io_context io;
  SocketPair<DrainingSocket<tcp::socket>> pair(io);
  SendAndRead(io, pair, "abc");
  pair.Send("late");  // after the short read, before any read is waiting
  Read second;
  StartRead(pair.near, second, 64);
  ASSERT_TRUE(Complete(io, second));
  EXPECT_FALSE(*second.error);
  EXPECT_EQ(second.Text(), "late");
}

// Reads what the peer sent and starts the next read; then `end` ends the connection from the
// peer's side. Returns how that read ended (empty: it was still waiting after two seconds).
std::optional<boost::system::error_code> NextReadAfter(
    const std::function<void(tcp::socket& peer)>& end) {
  asio::io_context io;
  SocketPair<DrainingSocket<tcp::socket>> pair(io);
  SendAndRead(io, pair, "abc");
  Read next;
  StartRead(pair.near, next, 64);
  end(pair.far);
  Complete(io, next);
  return next.error;
}

TEST(DrainingReadTest, TheEndOfTheStreamAfterAShortReadIsReported) {
  const auto error =
      NextReadAfter([](tcp::socket& peer) { peer.shutdown(tcp::socket::shutdown_send); });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(*error, asio::error::eof);
}

// A reset that comes after the read took its data raises an event of its own. (One that comes in
// the same epoll event as the data is not counted by TCP_INQ: http/draining_read.h.)
TEST(DrainingReadTest, AResetAfterTheLastReadIsReportedByTheNextRead) {
  const auto error = NextReadAfter([](tcp::socket& peer) {
    peer.set_option(asio::socket_base::linger(true, 0));
    peer.close();
  });
  ASSERT_TRUE(error.has_value()) << "the read waited for a reset that had already come";
  EXPECT_EQ(*error, asio::error::connection_reset);
}

// The peer's last data and its FIN arrive together while a read waits: epoll reports them as one
// edge, the read that takes the data also passes the FIN, and no later edge comes for it.
TEST(DrainingReadTest, AnEndOfStreamThatArrivedWithTheLastDataIsReportedByTheNextRead) {
  asio::io_context io;
  SocketPair<DrainingSocket<tcp::socket>> pair(io);
  Read first;
  StartRead(pair.near, first, 64);
  io.restart();
  io.poll();  // the read is waiting for epoll
  ASSERT_FALSE(first.error.has_value());
  pair.Send("last words");
  pair.far.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(Complete(io, first));
  EXPECT_EQ(first.Text(), "last words");

  Read second;
  StartRead(pair.near, second, 64);
  ASSERT_TRUE(Complete(io, second)) << "the read waited for a FIN that had already come";
  EXPECT_EQ(*second.error, asio::error::eof);
}

TEST(DrainingReadTest, BeastReadsPipelinedAndLaterRequestsThroughADrainingSocket) {
  asio::io_context io;
  SocketPair<DrainingSocket<tcp::socket>> pair(io);
  const std::string request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  pair.Send(request + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody");
  boost::beast::flat_buffer buffer;
  std::vector<std::string> targets;
  for (int i = 0; i < 3; ++i) {
    if (i == 2) pair.Send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    bhttp::request<bhttp::string_body> message;
    std::optional<boost::system::error_code> error;
    bhttp::async_read(pair.near, buffer, message,
                      [&](const boost::system::error_code& ec, std::size_t) { error = ec; });
    const auto until = std::chrono::steady_clock::now() + seconds(2);
    while (!error && std::chrono::steady_clock::now() < until) {
      io.restart();
      io.run_one_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(error.has_value()) << "request " << i << " was never read";
    ASSERT_FALSE(*error) << error->message();
    targets.emplace_back(message.target());
    if (i == 1) {
      EXPECT_EQ(message.body(), "body");
    }
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"/a", "/b", "/c"}));
}

}  // namespace
}  // namespace gatehouse
