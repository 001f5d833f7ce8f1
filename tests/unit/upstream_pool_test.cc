// The upstream client's connection pool against a loopback server: reuse, idle timeouts, an
// upstream's close, which failed sends are tried again, and what a cancelled call leaves.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "http/event_loop.h"
#include "http/upstream_client.h"
#include "loopback_upstream.h"

namespace gatehouse {
namespace {

// Pool options with no health peek on reuse: what the upstream did to an idle connection is
// found by the send or the read alone.
UpstreamPoolOptions WithoutHealthPeek() {
  UpstreamPoolOptions options;
  options.peek_after_idle = std::chrono::hours(1);
  return options;
}

TEST(AsioUpstreamClient, SequentialCallsOnOneLoopReuseOnePooledConnection) {
  LoopbackServer server(Upstream::kKeepAlive);
  AsioUpstreamClient client;
  const ProviderConfig provider = ProviderAt(server.base_url());
  const auto outcomes = CallInSequence(client, provider, 5, std::chrono::seconds(5));
  ExpectAllAnswered(outcomes, R"({"choices":[]})");
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
  ExpectAllAnswered(outcomes);
  EXPECT_EQ(server.accepted(), 3);
  EXPECT_EQ(server.requests(), 3) << "no request may be sent twice";
}

TEST(AsioUpstreamClient, AReusedConnectionFoundResetWhenSendingIsRetriedOnceOnAFreshOne) {
  LoopbackServer server(Upstream::kResetAfterAnswer);
  // The reset is found by the send, as it is for a connection taken within peek_after_idle of
  // its last answer.
  AsioUpstreamClient client(WithoutHealthPeek());
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
  ExpectAllAnswered(outcomes);
  EXPECT_EQ(client.Figures().reused, 0u) << "a reset connection served no call: not reused";
  EXPECT_EQ(client.Figures().created, 3u);
  EXPECT_EQ(server.requests(), 3) << "no request may be sent twice";
}

// A body the upstream ended by closing the connection leaves no connection to reuse, even
// when the next call comes too soon for the health peek.
TEST(AsioUpstreamClient, AConnectionWhoseCloseEndedTheBodyIsNeverPooled) {
  LoopbackServer server(Upstream::kCloseDelimited);
  AsioUpstreamClient client(WithoutHealthPeek());
  const ProviderConfig provider = ProviderAt(server.base_url());
  const auto outcomes = CallInSequence(client, provider, 3, std::chrono::seconds(5));
  ASSERT_EQ(outcomes.size(), 3u);
  ExpectAllAnswered(outcomes, R"({"choices":[]})");
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
      exchange->Start(ChatRequestTo(provider, std::chrono::seconds(5)),
                      [&](std::expected<UpstreamHead, UpstreamError> head) {
                        if (!head) cancelled = head.error().failure;
                      });
      Call(client, provider, std::chrono::seconds(5),
           [&](Outcome next) { outcomes.push_back(std::move(next)); });
    });
  });
  EXPECT_EQ(cancelled, UpstreamFailure::kCancelled);
  ASSERT_EQ(outcomes.size(), 2u);
  ExpectAllAnswered(outcomes);
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

}  // namespace
}  // namespace gatehouse
