// The Asio upstream client's pool and timeouts against a small blocking HTTP server on a
// loopback socket (no Asio in this file: RunEventLoop drives the client).
#include "http/upstream_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/event_loop.h"

namespace gatehouse {
namespace {

// What the loopback server does with a connection.
enum class Upstream {
  kKeepAlive,         // answers every request and keeps the connection open
  kCloseAfterAnswer,  // closes (FIN) right after each answer without saying so, as an upstream
                      // whose idle timeout has passed would
  kResetAfterAnswer,  // resets (RST) the connection shortly after each answer
  kSilent,            // reads requests and never answers
  kInterimFirst,      // answers 103 Early Hints, then (30 ms later) the answer, numbered
  kCloseDelimited,    // answers without a length or chunks and closes: the close ends the body
  kScripted,          // answers each request with the test's own function
};

// Answers every request with a small JSON body, one thread per connection.
class LoopbackServer {
 public:
  // On 127.0.0.1, or on ::1 with `ipv6` (listening() is false when the machine has no ::1).
  // Answers each request by calling `answer` with the connection's socket.
  explicit LoopbackServer(std::function<void(int fd)> answer)
      : LoopbackServer(Upstream::kScripted, false, std::move(answer)) {}
  explicit LoopbackServer(Upstream behaviour, bool ipv6 = false,
                          std::function<void(int fd)> answer = {})
      : behaviour_(behaviour), ipv6_(ipv6), answer_(std::move(answer)) {
    listener_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    sockaddr_storage address{};
    socklen_t length = 0;
    if (ipv6) {
      auto& v6 = reinterpret_cast<sockaddr_in6&>(address);
      v6.sin6_family = AF_INET6;
      v6.sin6_addr = in6addr_loopback;
      length = sizeof v6;
    } else {
      auto& v4 = reinterpret_cast<sockaddr_in&>(address);
      v4.sin_family = AF_INET;
      v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof v4;
    }
    listening_ = listener_ >= 0 &&
                 ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) == 0 &&
                 ::listen(listener_, 16) == 0;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6&>(address).sin6_port
                       : reinterpret_cast<sockaddr_in&>(address).sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~LoopbackServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    {
      const std::lock_guard lock(mutex_);
      for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& thread : threads_) thread.join();
    for (int fd : connections_) ::close(fd);
  }

  bool listening() const { return listening_; }
  std::uint16_t port() const { return port_; }
  std::string base_url() const {
    return std::string(ipv6_ ? "http://[::1]:" : "http://127.0.0.1:") + std::to_string(port_) +
           "/v1";
  }
  // The head of the last request read (request line and headers).
  std::string last_head() const {
    const std::lock_guard lock(mutex_);
    return last_head_;
  }
  int accepted() const { return accepted_; }
  int requests() const { return requests_; }
  int closed_by_client() const { return closed_by_client_; }
  int resets() const { return resets_; }

 private:
  void Accept() {
    for (;;) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0 || stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      ++accepted_;
      const std::lock_guard lock(mutex_);
      connections_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      const auto end = buffer.find("\r\n\r\n");
      if (end == std::string::npos) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
          if (n == 0 && !stopping_) ++closed_by_client_;
          return;
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      const auto at = buffer.find("Content-Length: ");
      const std::size_t length = at == std::string::npos ? 0 : std::stoul(buffer.substr(at + 16));
      while (buffer.size() < end + 4 + length) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<std::size_t>(n));
      }
      {
        const std::lock_guard lock(mutex_);
        last_head_ = buffer.substr(0, end);
      }
      buffer.erase(0, end + 4 + length);
      ++requests_;
      if (behaviour_ == Upstream::kSilent) continue;
      if (behaviour_ == Upstream::kScripted) {
        answer_(fd);
        continue;
      }
      static const std::string kBody = R"({"choices":[]})";
      if (behaviour_ == Upstream::kCloseDelimited) {
        const std::string answer =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + kBody;
        ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        continue;  // reads on: a request sent on this connection again would be counted
      }
      std::string body = kBody;
      if (behaviour_ == Upstream::kInterimFirst) {
        static const std::string kHints =
            "HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n";
        ::send(fd, kHints.data(), kHints.size(), MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        body = R"({"choices":[],"answer":)" + std::to_string(requests_.load()) + "}";
      }
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
          "Content-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
      ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      if (behaviour_ == Upstream::kCloseAfterAnswer) {
        ::shutdown(fd, SHUT_RDWR);
        return;
      }
      if (behaviour_ == Upstream::kResetAfterAnswer) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the answer is read
        const linger reset{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        const std::lock_guard lock(mutex_);
        connections_.erase(std::find(connections_.begin(), connections_.end(), fd));
        ::close(fd);
        ++resets_;
        return;
      }
    }
  }

  const Upstream behaviour_;
  const bool ipv6_;
  const std::function<void(int fd)> answer_;  // kScripted
  bool listening_ = false;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> closed_by_client_{0};
  std::atomic<int> resets_{0};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::vector<int> connections_;  // open connections; guarded by mutex_
  std::string last_head_;         // guarded by mutex_
  std::vector<std::thread> threads_;
};

struct Outcome {
  int status = 0;
  std::string body;
  std::optional<UpstreamFailure> failure;
};

// What a call does besides the usual.
struct CallShape {
  std::chrono::milliseconds total_timeout{0};  // 0: `timeout`, as every other one
  std::chrono::milliseconds hold_head{0};      // the caller's own time before it reads the body
  std::size_t body_bytes = 0;                  // 0: the body is "{}"
};

// Makes one call on the current event loop and hands its outcome to `done`.
void Call(AsioUpstreamClient& client, const ProviderConfig& provider,
          std::chrono::milliseconds timeout, std::function<void(Outcome)> done,
          CallShape shape = {}) {
  auto exchange = client.Open();
  UpstreamRequest request;
  request.provider = &provider;
  request.path = "/chat/completions";
  request.body = shape.body_bytes > 0 ? std::string(shape.body_bytes, ' ') : "{}";
  request.first_byte_timeout = request.read_timeout = request.total_timeout = timeout;
  if (shape.total_timeout.count() > 0) request.total_timeout = shape.total_timeout;
  auto outcome = std::make_shared<Outcome>();
  // `read` refers to itself (it reads again after each piece): the call's end empties it,
  // which breaks that cycle (LeakSanitizer found the exchange leaked otherwise).
  auto read = std::make_shared<std::function<void()>>();
  const auto finish = [outcome, read, done = std::move(done)] {
    *read = nullptr;
    done(*outcome);
  };
  *read = [exchange, outcome, read, finish] {
    exchange->Read([outcome, read, finish](std::expected<UpstreamBodyPiece, UpstreamError> piece) {
      if (!piece) {
        outcome->failure = piece.error().failure;
        return finish();
      }
      outcome->body += piece->bytes;
      if (piece->end) return finish();
      (*read)();
    });
  };
  exchange->Start(request, [exchange, outcome, read, finish,
                            shape](std::expected<UpstreamHead, UpstreamError> head) {
    if (!head) {
      outcome->failure = head.error().failure;
      return finish();
    }
    outcome->status = head->status;
    std::this_thread::sleep_for(shape.hold_head);  // as a slow client's write would
    (*read)();
  });
}

// Runs `count` calls one after another on one event loop.
std::vector<Outcome> CallInSequence(AsioUpstreamClient& client, const ProviderConfig& provider,
                                    int count, std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds pause = {}) {
  std::vector<Outcome> outcomes;
  std::function<void()> next = [&] {
    if (static_cast<int>(outcomes.size()) == count) return;
    if (pause.count() > 0 && !outcomes.empty()) std::this_thread::sleep_for(pause);
    Call(client, provider, timeout, [&](Outcome outcome) {
      outcomes.push_back(std::move(outcome));
      next();
    });
  };
  RunEventLoop(next);
  return outcomes;
}

ProviderConfig ProviderAt(const std::string& base_url) {
  ProviderConfig provider;
  provider.name = "loopback";
  provider.base_url = base_url;
  return provider;
}

TEST(AsioUpstreamClient, SequentialCallsOnOneLoopReuseOnePooledConnection) {
  LoopbackServer server(Upstream::kKeepAlive);
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  const auto outcomes = CallInSequence(client, provider, 5, std::chrono::seconds(5));
  for (const auto& outcome : outcomes) {
    EXPECT_FALSE(outcome.failure);
    EXPECT_EQ(outcome.status, 200);
    EXPECT_EQ(outcome.body, R"({"choices":[]})");
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(client.Figures().created, 1u);
  EXPECT_EQ(client.Figures().reused, 4u);
}

TEST(AsioUpstreamClient, AnIdleConnectionTheUpstreamClosedIsReplacedWithoutAFailedCall) {
  LoopbackServer server(Upstream::kCloseAfterAnswer);
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  // The pause lets the upstream's close arrive before the connection is taken again.
  const auto outcomes =
      CallInSequence(client, provider, 3, std::chrono::seconds(5), std::chrono::milliseconds(50));
  for (const auto& outcome : outcomes) {
    EXPECT_FALSE(outcome.failure);
    EXPECT_EQ(outcome.status, 200);
  }
  EXPECT_EQ(server.accepted(), 3);
  EXPECT_EQ(server.requests(), 3) << "no request may be sent twice";
}

TEST(AsioUpstreamClient, AReusedConnectionFoundResetWhenSendingIsRetriedOnceOnAFreshOne) {
  LoopbackServer server(Upstream::kResetAfterAnswer);
  // No health peek on reuse: the reset is found by the send, as it is for a connection taken
  // within peek_after_idle of its last answer.
  UpstreamPoolOptions options;
  options.peek_after_idle = std::chrono::hours(1);
  AsioUpstreamClient client(options);
  const ProviderConfig provider = ProviderAt(server.base_url());
  std::vector<Outcome> outcomes;
  std::function<void()> next = [&] {
    if (outcomes.size() == 3) return;
    // Each later call waits until the server has reset the connection of the one before.
    for (int i = 0; i < 500 && server.resets() < static_cast<int>(outcomes.size()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Call(client, provider, std::chrono::seconds(5), [&](Outcome outcome) {
      outcomes.push_back(std::move(outcome));
      next();
    });
  };
  RunEventLoop(next);
  ASSERT_EQ(outcomes.size(), 3u);
  for (const auto& outcome : outcomes) {
    EXPECT_FALSE(outcome.failure);
    EXPECT_EQ(outcome.status, 200);
  }
  EXPECT_EQ(client.Figures().reused, 0u) << "a reset connection served no call: not reused";
  EXPECT_EQ(client.Figures().created, 3u);
  EXPECT_EQ(server.requests(), 3) << "no request may be sent twice";
}

// An interim answer is not the answer: taken for it, the final answer would stay on the pooled
// connection and reach the next call, another caller's perhaps.
TEST(AsioUpstreamClient, InterimAnswersAreSkippedAndEachCallReadsItsOwnAnswer) {
  LoopbackServer server(Upstream::kInterimFirst);
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  const auto outcomes = CallInSequence(client, provider, 3, std::chrono::seconds(5));
  ASSERT_EQ(outcomes.size(), 3u);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_FALSE(outcomes[i].failure) << i;
    EXPECT_EQ(outcomes[i].status, 200) << i;
    EXPECT_EQ(outcomes[i].body, R"({"choices":[],"answer":)" + std::to_string(i + 1) + "}");
  }
  EXPECT_EQ(client.Figures().created, 1u) << "the connection stays reusable";
}

void SendText(int fd, const std::string& text) {
  ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
}

constexpr char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"choices\":[]}";

Outcome OneCall(const std::function<void(int fd)>& answer, std::chrono::milliseconds timeout) {
  LoopbackServer server(answer);
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  auto outcomes = CallInSequence(client, provider, 1, timeout);
  return outcomes.empty() ? Outcome{} : outcomes.front();
}

TEST(AsioUpstreamClient, InterimAnswersInTheAnswersOwnSegmentAreSkippedUpToEight) {
  const auto interims = [](int count) {
    std::string text;
    for (int i = 0; i < count; ++i) text += "HTTP/1.1 100 Continue\r\n\r\n";
    return text;
  };
  const auto eight =
      OneCall([&](int fd) { SendText(fd, interims(8) + kAnswer); }, std::chrono::seconds(5));
  EXPECT_FALSE(eight.failure);
  EXPECT_EQ(eight.status, 200);
  EXPECT_EQ(eight.body, R"({"choices":[]})");
  const auto nine =
      OneCall([&](int fd) { SendText(fd, interims(9) + kAnswer); }, std::chrono::seconds(5));
  EXPECT_EQ(nine.failure, UpstreamFailure::kProtocol);
  // 101 switches to a protocol nobody asked for.
  const auto switching = OneCall(
      [](int fd) {
        SendText(fd,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n");
      },
      std::chrono::seconds(5));
  EXPECT_EQ(switching.failure, UpstreamFailure::kProtocol);
}

// The first-byte budget holds across interim answers: an upstream that sends one and goes
// silent times out (here it gives up after 3 s, which without the bound would be the end).
TEST(AsioUpstreamClient, TheFirstByteTimeoutHoldsAfterAnInterimAnswer) {
  const auto started = std::chrono::steady_clock::now();
  const auto outcome = OneCall(
      [](int fd) {
        SendText(fd, "HTTP/1.1 102 Processing\r\n\r\n");
        pollfd wait{fd, POLLIN, 0};
        ::poll(&wait, 1, 3000);  // until the client leaves, at most 3 s
        ::shutdown(fd, SHUT_RDWR);
      },
      std::chrono::milliseconds(200));
  EXPECT_EQ(outcome.failure, UpstreamFailure::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

// An upstream that sends a chunked answer's head and first chunk at once, and ends it `pause`
// later.
std::function<void(int fd)> ChunkedAnswerEndingAfter(std::chrono::milliseconds pause) {
  return [pause](int fd) {
    SendText(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n");
    std::this_thread::sleep_for(pause);
    SendText(fd, "0\r\n\r\n");
  };
}

// One call of `shape` (its other timeouts 5 s) on an event loop of its own.
Outcome ShapedCall(AsioUpstreamClient& client, const ProviderConfig& provider, CallShape shape) {
  std::optional<Outcome> outcome;
  RunEventLoop([&] {
    Call(
        client, provider, std::chrono::seconds(5), [&](Outcome done) { outcome = done; }, shape);
  });
  EXPECT_TRUE(outcome);
  return outcome.value_or(Outcome{});
}

// The whole-call budget is the provider's: the time the caller holds the head before it asks
// for the body (a slow client taking a stream) moves its deadline on. Here the provider takes
// 1,400 ms in all but keeps the caller waiting 600 ms, within the whole-call 1,000 ms.
TEST(AsioUpstreamClient, TheTimeTheCallerHoldsTheHeadDoesNotCountAgainstTheWholeCall) {
  LoopbackServer server(ChunkedAnswerEndingAfter(std::chrono::milliseconds(1400)));
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  const Outcome held = ShapedCall(
      client, provider, CallShape{std::chrono::milliseconds(1000), std::chrono::milliseconds(800)});
  EXPECT_FALSE(held.failure);
  EXPECT_EQ(held.body, "{}");
  // The provider's own wait past the budget still ends the call.
  const Outcome late = ShapedCall(
      client, provider, CallShape{std::chrono::milliseconds(1000), std::chrono::milliseconds(100)});
  EXPECT_EQ(late.failure, UpstreamFailure::kTimeout);
}

// However long the caller holds it, a call ends by twice its whole-call budget: its connection
// and its provider's cap are not held for ever by a client that reads slowly enough.
TEST(AsioUpstreamClient, TheCallersHoldingTimeMovesTheWholeCallDeadlineByOneBudgetAtMost) {
  LoopbackServer server(ChunkedAnswerEndingAfter(std::chrono::milliseconds(1200)));
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  // Held 1,000 ms, then 200 ms of the provider's: within 400 + 1,000, past 400 + 400.
  const Outcome held = ShapedCall(
      client, provider, CallShape{std::chrono::milliseconds(400), std::chrono::milliseconds(1000)});
  EXPECT_EQ(held.failure, UpstreamFailure::kTimeout);
}

// A name's addresses are tried in turn, each but the last with half of what is left of the
// first-byte budget: one that drops what is sent to it (a broken route) does not take all of it
// while the next would answer.
TEST(AsioUpstreamClient, AnAddressThatDoesNotAnswerLeavesTimeForTheNextOne) {
  LoopbackServer server(Upstream::kKeepAlive);
  // 127.0.0.2 on the server's port: a listener whose queue is full drops the SYNs that follow.
  sockaddr_in hole_address{};
  hole_address.sin_family = AF_INET;
  hole_address.sin_port = htons(server.port());
  ASSERT_EQ(::inet_pton(AF_INET, "127.0.0.2", &hole_address.sin_addr), 1);
  const int hole = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::bind(hole, reinterpret_cast<sockaddr*>(&hole_address), sizeof hole_address), 0);
  ASSERT_EQ(::listen(hole, 0), 0);
  const int queued = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(queued, reinterpret_cast<sockaddr*>(&hole_address), sizeof hole_address), 0);
  UpstreamPoolOptions options;
  options.addresses_of = [](const std::string&) {
    return std::vector<std::string>{"127.0.0.2", "127.0.0.1"};
  };
  AsioUpstreamClient client(options);
  const ProviderConfig provider =
      ProviderAt("http://upstream.test:" + std::to_string(server.port()) + "/v1");
  const auto started = std::chrono::steady_clock::now();
  const auto outcomes = CallInSequence(client, provider, 1, std::chrono::milliseconds(2000));
  const auto took = std::chrono::steady_clock::now() - started;
  ::close(queued);
  ::close(hole);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_FALSE(outcomes[0].failure);
  EXPECT_EQ(outcomes[0].status, 200);
  EXPECT_LT(took, std::chrono::milliseconds(1800)) << "the first address had half the budget";
}

// A body the upstream ended by closing the connection leaves no connection to reuse, even
// when the next call comes too soon for the health peek.
TEST(AsioUpstreamClient, AConnectionWhoseCloseEndedTheBodyIsNeverPooled) {
  LoopbackServer server(Upstream::kCloseDelimited);
  UpstreamPoolOptions options;
  options.peek_after_idle = std::chrono::hours(1);
  AsioUpstreamClient client(options);
  const ProviderConfig provider = ProviderAt(server.base_url());
  const auto outcomes = CallInSequence(client, provider, 3, std::chrono::seconds(5));
  ASSERT_EQ(outcomes.size(), 3u);
  for (const auto& outcome : outcomes) {
    EXPECT_FALSE(outcome.failure);
    EXPECT_EQ(outcome.status, 200);
    EXPECT_EQ(outcome.body, R"({"choices":[]})");
  }
  EXPECT_EQ(client.Figures().reused, 0u);
  EXPECT_EQ(client.Figures().created, 3u);
  EXPECT_EQ(server.requests(), 3);
}

TEST(AsioUpstreamClient, AnIdleConnectionIsClosedWhenItsIdleTimeoutPassesWithoutAnotherCall) {
  LoopbackServer server(Upstream::kKeepAlive);
  LoopbackServer silent(Upstream::kSilent);
  UpstreamPoolOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  AsioUpstreamClient client(options);
  const ProviderConfig provider = ProviderAt(server.base_url());
  const ProviderConfig waiting = ProviderAt(silent.base_url());
  std::optional<Outcome> first, second;
  UpstreamPoolFigures after_wait;
  int closed_during_wait = 0;
  RunEventLoop([&] {
    Call(client, provider, std::chrono::seconds(5), [&](Outcome outcome) {
      first = std::move(outcome);
      // The connection to `server` is pooled now. A call that waits 600 ms for the silent
      // upstream keeps the loop running meanwhile, with no call to `server`.
      Call(client, waiting, std::chrono::milliseconds(600), [&](Outcome outcome) {
        second = std::move(outcome);
        after_wait = client.Figures();
        closed_during_wait = server.closed_by_client();
      });
    });
  });
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->failure, UpstreamFailure::kTimeout);
  EXPECT_EQ(after_wait.idle, 0u) << "the idle connection was still pooled after its timeout";
  EXPECT_EQ(after_wait.open, 0u);
  EXPECT_EQ(closed_during_wait, 1) << "the upstream did not see the idle connection close";
}

TEST(AsioUpstreamClient, CallsToAHostWhoseLookupIsStaleGoOnWhileItIsLookedUpAgain) {
  LoopbackServer server(Upstream::kCloseAfterAnswer);  // each call needs a connect, so a lookup
  UpstreamPoolOptions options;
  options.dns_ttl = std::chrono::milliseconds(1);
  AsioUpstreamClient client(options);
  const ProviderConfig provider =
      ProviderAt("http://localhost:" + std::to_string(server.port()) + "/v1");
  const auto outcomes =
      CallInSequence(client, provider, 4, std::chrono::seconds(5), std::chrono::milliseconds(20));
  ASSERT_EQ(outcomes.size(), 4u);
  for (const auto& outcome : outcomes) {
    EXPECT_FALSE(outcome.failure);
    EXPECT_EQ(outcome.status, 200);
  }
  EXPECT_EQ(server.accepted(), 4);
}

// A name server that does not answer holds up the calls to its host only: another host's first
// call is looked up, connected and answered meanwhile, on the same loop.
TEST(AsioUpstreamClient, AHostWhoseLookupHangsHoldsUpNoCallToAnotherHost) {
  LoopbackServer server(Upstream::kKeepAlive);
  // Shared with the lookup thread, which may still hold it after the test.
  struct Gate {
    std::mutex mutex;
    std::condition_variable let_go;
    bool released = false;
  };
  auto gate = std::make_shared<Gate>();
  UpstreamPoolOptions options;
  options.before_lookup = [gate](const std::string& host) {
    if (host != "hanging.invalid") return;
    std::unique_lock lock(gate->mutex);
    gate->let_go.wait_for(lock, std::chrono::seconds(10), [&] { return gate->released; });
  };
  std::optional<Outcome> hanging, other;
  std::chrono::steady_clock::duration other_took{};
  {
    AsioUpstreamClient client(options);
    const std::string port = std::to_string(server.port());
    const ProviderConfig stuck = ProviderAt("http://hanging.invalid:" + port);
    const ProviderConfig fine = ProviderAt("http://localhost:" + port);
    RunEventLoop([&] {
      Call(client, stuck, std::chrono::milliseconds(1500),
           [&](Outcome outcome) { hanging = std::move(outcome); });
      const auto start = std::chrono::steady_clock::now();
      Call(client, fine, std::chrono::seconds(5), [&, start](Outcome outcome) {
        other_took = std::chrono::steady_clock::now() - start;
        other = std::move(outcome);
      });
    });
    {
      const std::lock_guard lock(gate->mutex);
      gate->released = true;
    }
    gate->let_go.notify_all();
  }
  ASSERT_TRUE(hanging && other);
  EXPECT_EQ(hanging->failure, UpstreamFailure::kTimeout);
  EXPECT_FALSE(other->failure);
  EXPECT_EQ(other->status, 200);
  EXPECT_LT(other_took, std::chrono::milliseconds(1500))
      << "the call to localhost waited for the hanging lookup";
}

TEST(AsioUpstreamClient, AnIpv6LiteralUpstreamIsNamedInBracketsInTheHostHeader) {
  LoopbackServer server(Upstream::kKeepAlive, /*ipv6=*/true);
  if (!server.listening()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  const auto outcomes = CallInSequence(client, provider, 1, std::chrono::seconds(5));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].status, 200);
  const std::string host = "\r\nHost: [::1]:" + std::to_string(server.port()) + "\r\n";
  EXPECT_NE(server.last_head().find(host), std::string::npos) << server.last_head();
}

// A zone id ("%25" and an interface in the URL, RFC 6874) chooses the interface to connect
// through; it means nothing to the server, so the Host header goes without it.
TEST(AsioUpstreamClient, AnIpv6ZoneIdIsUsedToConnectAndLeftOutOfTheHostHeader) {
  LoopbackServer server(Upstream::kKeepAlive, /*ipv6=*/true);
  if (!server.listening()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  AsioUpstreamClient client;
  const std::string port = std::to_string(server.port());
  const ProviderConfig provider = ProviderAt("http://[::1%25lo]:" + port);
  const auto outcomes = CallInSequence(client, provider, 1, std::chrono::seconds(5));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].status, 200) << outcomes[0].body;
  EXPECT_NE(server.last_head().find("\r\nHost: [::1]:" + port + "\r\n"), std::string::npos)
      << server.last_head();
}

TEST(AsioUpstreamClient, IdleConnectionsWhoseTimeoutsPassTogetherAreAllClosedAndLetGo) {
  constexpr int kConnections = 12;
  LoopbackServer server(Upstream::kKeepAlive);
  LoopbackServer silent(Upstream::kSilent);
  UpstreamPoolOptions options;
  options.idle_timeout = std::chrono::milliseconds(200);
  AsioUpstreamClient client(options);
  const ProviderConfig provider = ProviderAt(server.base_url());
  const ProviderConfig waiting = ProviderAt(silent.base_url());
  int answered = 0;
  std::optional<Outcome> second;
  UpstreamPoolFigures pooled, after_wait, after_second_wait;
  int closed_during_wait = 0;
  RunEventLoop([&] {
    // Started together, the calls each open a connection; each is pooled when its call ends.
    for (int i = 0; i < kConnections; ++i) {
      Call(client, provider, std::chrono::seconds(5), [&](Outcome outcome) {
        EXPECT_EQ(outcome.status, 200);
        if (++answered < kConnections) return;
        pooled = client.Figures();
        Call(client, waiting, std::chrono::milliseconds(1500), [&](Outcome outcome) {
          second = std::move(outcome);
          after_wait = client.Figures();
          closed_during_wait = server.closed_by_client();
          // A later expiry is let go of too: one more connection, pooled and left to expire.
          Call(client, provider, std::chrono::seconds(5), [&](Outcome outcome) {
            EXPECT_EQ(outcome.status, 200);
            Call(client, waiting, std::chrono::milliseconds(1500),
                 [&](Outcome) { after_second_wait = client.Figures(); });
          });
        });
      });
    }
  });
  ASSERT_TRUE(second);
  EXPECT_EQ(pooled.idle, static_cast<std::uint64_t>(kConnections));
  EXPECT_EQ(after_wait.idle, 0u) << "idle connections were still pooled after their timeout";
  EXPECT_EQ(after_wait.open, 0u);
  EXPECT_EQ(closed_during_wait, kConnections);
  // The pooled ones, the one after the first wait, and one to the silent upstream per wait.
  EXPECT_EQ(after_second_wait.created, static_cast<std::uint64_t>(kConnections + 3));
  EXPECT_EQ(after_second_wait.idle, 0u) << "a later expiry was not let go of";
  EXPECT_EQ(after_second_wait.open, 0u);
}

TEST(AsioUpstreamClient, NoAnswerWithinTheFirstByteTimeoutIsATimeoutAndTheConnectionIsClosed) {
  LoopbackServer server(Upstream::kSilent);
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  const auto started = std::chrono::steady_clock::now();
  const auto outcomes = CallInSequence(client, provider, 1, std::chrono::milliseconds(200));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].failure, UpstreamFailure::kTimeout);
  EXPECT_GE(elapsed, std::chrono::milliseconds(180));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_EQ(client.Figures().open, 0u);
  EXPECT_EQ(client.Figures().idle, 0u);
}

TEST(AsioUpstreamClient, AnUnreachableUpstreamIsANetworkFailure) {
  AsioUpstreamClient client;
  // A port that was just free: nothing listens there.
  std::string url;
  {
    LoopbackServer probe(Upstream::kKeepAlive);
    url = probe.base_url();
  }
  const ProviderConfig provider = ProviderAt(url);
  const auto outcomes = CallInSequence(client, provider, 1, std::chrono::seconds(2));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].failure, UpstreamFailure::kNetwork);
  EXPECT_EQ(client.Figures().created, 0u) << "a refused connect made no connection";
}

TEST(AsioUpstreamClient, ACancelledCallEndsWithCancelledAndLeavesNoConnection) {
  LoopbackServer server(Upstream::kSilent);
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  std::optional<UpstreamFailure> failure;
  RunEventLoop([&] {
    auto exchange = client.Open();
    UpstreamRequest request;
    request.provider = &provider;
    request.path = "/chat/completions";
    exchange->Start(request, [&, exchange](std::expected<UpstreamHead, UpstreamError> head) {
      if (!head) failure = head.error().failure;
    });
    exchange->Cancel();
  });
  EXPECT_EQ(failure, UpstreamFailure::kCancelled);
  EXPECT_EQ(client.Figures().open, 0u);
  EXPECT_EQ(server.requests(), 0);
}

}  // namespace
// A call cancelled before it starts (its client left while it waited for its turn) takes no
// idle connection from the pool: one taken would be closed with it, and the next call would
// have to connect again.
TEST(AsioUpstreamClient, ACallCancelledBeforeItStartsLeavesThePooledConnectionToTheNext) {
  LoopbackServer server(Upstream::kKeepAlive);
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  std::vector<Outcome> outcomes;
  std::optional<UpstreamFailure> cancelled;
  RunEventLoop([&] {
    Call(client, provider, std::chrono::seconds(5), [&](Outcome first) {
      outcomes.push_back(std::move(first));
      auto exchange = client.Open();
      exchange->Cancel();
      UpstreamRequest request;
      request.provider = &provider;
      request.path = "/chat/completions";
      exchange->Start(request, [&](std::expected<UpstreamHead, UpstreamError> head) {
        if (!head) cancelled = head.error().failure;
      });
      Call(client, provider, std::chrono::seconds(5),
           [&](Outcome next) { outcomes.push_back(std::move(next)); });
    });
  });
  EXPECT_EQ(cancelled, UpstreamFailure::kCancelled);
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto& outcome : outcomes) {
    EXPECT_FALSE(outcome.failure);
    EXPECT_EQ(outcome.status, 200);
  }
  EXPECT_EQ(client.Figures().created, 1u);
  EXPECT_EQ(client.Figures().reused, 1u);
  EXPECT_EQ(server.requests(), 2);
}

TEST(AsioUpstreamClient, ARequestWhoseSendTimedOutOnAPooledConnectionIsNeverSentAgain) {
  // The first call is answered; then the upstream stops reading that connection, so the second
  // call's 16 MiB fill the socket's buffers and its send runs out of the first-byte budget.
  LoopbackServer server([](int fd) {
    SendText(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  });
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  std::vector<Outcome> outcomes;
  const auto timeout = std::chrono::milliseconds(300);
  RunEventLoop([&] {
    Call(client, provider, timeout, [&](Outcome first) {
      outcomes.push_back(std::move(first));
      Call(
          client, provider, timeout, [&](Outcome second) { outcomes.push_back(std::move(second)); },
          CallShape{.body_bytes = 16 << 20});
    });
  });
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].status, 200);
  EXPECT_EQ(outcomes[1].failure, UpstreamFailure::kTimeout);
  EXPECT_EQ(client.Figures().created, 1u) << "a timed-out send is not tried on a new connection";
  EXPECT_EQ(server.accepted(), 1);
}

}  // namespace gatehouse
