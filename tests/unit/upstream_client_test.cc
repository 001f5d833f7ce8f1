// The Asio upstream client against a loopback server: interim answers, timeouts and the
// whole-call budget, name lookups, addresses, failures and cancelling. The pool's rules are in
// upstream_pool_test.cc.
#include "http/upstream_client.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/event_loop.h"
#include "loopback_upstream.h"

namespace gatehouse {
namespace {

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

// A small answer's body comes in its head's segment: it is handed over within the Read that asks
// for it, with no read operation and no turn of the loop for bytes already at hand.
TEST(AsioUpstreamClient, ABodyThatCameWithTheHeadIsHandedOverWithinTheRead) {
  LoopbackServer server([](int fd) { SendText(fd, kAnswer); });
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  bool handed_within_read = false;
  std::optional<UpstreamBodyPiece> body;
  RunEventLoop([&] {
    auto exchange = client.Open();
    exchange->Start(ChatRequestTo(provider, std::chrono::seconds(5)),
                    [exchange, &body, &handed_within_read](auto head) {
                      ASSERT_TRUE(head);
                      exchange->Read([&body](auto piece) {
                        if (piece) body = std::move(*piece);
                      });
                      handed_within_read = body.has_value();
                    });
  });
  EXPECT_TRUE(handed_within_read);
  ASSERT_TRUE(body);
  EXPECT_EQ(body->bytes, R"({"choices":[]})");
  EXPECT_TRUE(body->end);
}

// Of the answer's head the gateway is given its status, Content-Type and Retry-After (the first
// of each when one is sent twice, whatever its spelling); of a chunked body, the chunks' bytes.
TEST(AsioUpstreamClient, TheHeadGivesTheFirstContentTypeAndRetryAfterAndTheBodyItsChunks) {
  const auto outcome = OneCall(
      [](int fd) {
        SendText(fd,
                 "HTTP/1.1 429 Too Many Requests\r\ncontent-TYPE: application/json\r\n"
                 "Retry-After: 7\r\nX-Other: 1\r\nContent-Type: text/plain\r\n"
                 "retry-after: 9\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n");
      },
      std::chrono::seconds(5));
  EXPECT_FALSE(outcome.failure);
  EXPECT_EQ(outcome.status, 429);
  EXPECT_EQ(outcome.content_type, "application/json");
  EXPECT_EQ(outcome.retry_after, "7");
  EXPECT_EQ(outcome.body, R"({"a":1})");
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
  ExpectAllAnswered(outcomes);
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

// A loop keeps what each URL it called tells (host, pool, the request's start): every call
// still goes to its own provider's host and path, whichever was called before it on the loop,
// and a base URL's trailing slash is dropped as before.
TEST(AsioUpstreamClient, CallsFromOneLoopGoEachToItsOwnProvidersHostAndPath) {
  LoopbackServer first(Upstream::kKeepAlive);
  LoopbackServer second(Upstream::kKeepAlive);
  // Base URLs of one length: only their text tells them apart.
  const std::vector<ProviderConfig> providers = {ProviderAt(first.base_url() + "/aa/"),
                                                 ProviderAt(second.base_url() + "/bb"),
                                                 ProviderAt(first.base_url() + "/cc")};
  const std::vector<std::pair<const LoopbackServer*, std::string>> expected = {
      {&first, "POST /v1/aa/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" +
                   std::to_string(first.port()) + "\r\n"},
      {&second, "POST /v1/bb/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:" +
                    std::to_string(second.port()) + "\r\n"},
      {&first, "POST /v1/cc/chat/completions HTTP/1.1\r\n"}};
  AsioUpstreamClient client;
  const std::vector<std::size_t> order = {0, 1, 2, 0, 1, 2, 2, 0};
  std::vector<std::string> failures;
  std::size_t next = 0;
  std::function<void()> call = [&] {
    if (next == order.size()) return;
    const std::size_t which = order[next];
    Call(client, providers[which], std::chrono::seconds(5), [&, which](Outcome outcome) {
      const auto& [server, start] = expected[which];
      if (outcome.status != 200 || !server->last_head().starts_with(start)) {
        failures.push_back("call " + std::to_string(next) + ": " + std::to_string(outcome.status) +
                           " " + server->last_head());
      }
      ++next;
      call();
    });
  };
  RunEventLoop(call);
  EXPECT_EQ(next, order.size());
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(client.Figures().created, 2u) << "one connection to each host, reused";
}

// Past the number of URLs a loop keeps (256) it starts over: the calls after that still go to
// their own paths, over the same pooled connection. (That the bound holds is not seen from here.)
TEST(AsioUpstreamClient, MoreUrlsThanALoopKeepsAreStillCalledRight) {
  LoopbackServer server(Upstream::kKeepAlive);
  std::vector<ProviderConfig> providers;
  for (int i = 0; i < 300; ++i)
    providers.push_back(ProviderAt(server.base_url() + "/p" + std::to_string(i)));
  providers.push_back(providers.front());
  AsioUpstreamClient client;
  std::vector<std::string> failures;
  std::size_t next = 0;
  std::function<void()> call = [&] {
    if (next == providers.size()) return;
    Call(client, providers[next], std::chrono::seconds(5), [&](Outcome outcome) {
      const std::string start =
          "POST /v1/p" + std::to_string(next % 300) + "/chat/completions HTTP/1.1\r\n";
      if (outcome.status != 200 || !server.last_head().starts_with(start)) {
        failures.push_back("call " + std::to_string(next) + ": " + server.last_head());
      }
      ++next;
      call();
    });
  };
  RunEventLoop(call);
  EXPECT_EQ(next, providers.size());
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(client.Figures().created, 1u);
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
    exchange->Start(ChatRequestTo(provider, std::chrono::seconds(5)),
                    [&, exchange](std::expected<UpstreamHead, UpstreamError> head) {
                      if (!head) failure = head.error().failure;
                    });
    exchange->Cancel();
  });
  EXPECT_EQ(failure, UpstreamFailure::kCancelled);
  EXPECT_EQ(client.Figures().open, 0u);
  EXPECT_EQ(server.requests(), 0);
}

}  // namespace
}  // namespace gatehouse
