// A small blocking HTTP server on a loopback socket, one thread per connection, and the calls
// the upstream client's tests make to it (no Asio here: RunEventLoop drives the client).
#ifndef GATEHOUSE_TESTS_UNIT_LOOPBACK_UPSTREAM_H_
#define GATEHOUSE_TESTS_UNIT_LOOPBACK_UPSTREAM_H_

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/event_loop.h"
#include "http/upstream_client.h"

namespace gatehouse {

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
  std::string content_type;
  std::string retry_after;
  std::string body;
  std::optional<UpstreamFailure> failure;
};

// What a call does besides the usual.
struct CallShape {
  std::chrono::milliseconds total_timeout{0};  // 0: `timeout`, as every other one
  std::chrono::milliseconds hold_head{0};      // the caller's own time before it reads the body
  std::size_t body_bytes = 0;                  // 0: the body is "{}"
};

// A chat request to `provider` with the body "{}" and every timeout `timeout`.
inline UpstreamRequest ChatRequestTo(const ProviderConfig& provider,
                                     std::chrono::milliseconds timeout) {
  UpstreamRequest request;
  request.provider = &provider;
  request.path = "/chat/completions";
  request.body = "{}";
  request.first_byte_timeout = request.read_timeout = request.total_timeout = timeout;
  return request;
}

// Makes one call on the current event loop and hands its outcome to `done`.
inline void Call(AsioUpstreamClient& client, const ProviderConfig& provider,
                 std::chrono::milliseconds timeout, std::function<void(Outcome)> done,
                 CallShape shape = {}) {
  auto exchange = client.Open();
  UpstreamRequest request = ChatRequestTo(provider, timeout);
  if (shape.body_bytes > 0) request.body = std::string(shape.body_bytes, ' ');
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
    outcome->content_type = head->content_type;
    outcome->retry_after = head->retry_after;
    std::this_thread::sleep_for(shape.hold_head);  // as a slow client's write would
    (*read)();
  });
}

// Runs `count` calls one after another on one event loop.
inline std::vector<Outcome> CallInSequence(AsioUpstreamClient& client,
                                           const ProviderConfig& provider, int count,
                                           std::chrono::milliseconds timeout,
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

// Expects each of `outcomes` answered 200 without a failure, with `body` when one is given.
inline void ExpectAllAnswered(const std::vector<Outcome>& outcomes,
                              std::optional<std::string> body = std::nullopt) {
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_FALSE(outcomes[i].failure) << "call " << i;
    EXPECT_EQ(outcomes[i].status, 200) << "call " << i;
    if (body) {
      EXPECT_EQ(outcomes[i].body, *body) << "call " << i;
    }
  }
}

inline ProviderConfig ProviderAt(const std::string& base_url) {
  ProviderConfig provider;
  provider.name = "loopback";
  provider.base_url = base_url;
  return provider;
}

inline void SendText(int fd, const std::string& text) {
  ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
}

}  // namespace gatehouse

#endif  // GATEHOUSE_TESTS_UNIT_LOOPBACK_UPSTREAM_H_
