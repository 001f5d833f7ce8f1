// The webhook's transport (http/blocking_post.h) and what its sender logs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include "http/blocking_post.h"
#include "usage/limit_webhook.h"

namespace gatehouse {
namespace {

// A receiver on 127.0.0.1 that accepts connections and never answers; it lets them go after
// at most `hold`, or when destroyed.
class SilentReceiver {
 public:
  explicit SilentReceiver(std::chrono::milliseconds hold) : hold_(hold) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(listener_, 8);
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      const int client = ::accept(listener_, nullptr, nullptr);
      const auto until = std::chrono::steady_clock::now() + hold_;
      while (!done_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (client >= 0) ::close(client);
    });
  }
  ~SilentReceiver() {
    done_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }

 private:
  std::chrono::milliseconds hold_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Beast's deadlines bound asynchronous operations only: a blocking read waited for as long as
// the receiver held the connection (a webhook receiver that never answers stopped every
// organization's notices, and the server's shutdown, behind it).
TEST(BlockingPostJson, AReceiverThatNeverAnswersIsGivenUpAfterTheTimeout) {
  SilentReceiver receiver(std::chrono::seconds(10));
  const auto started = std::chrono::steady_clock::now();
  const PostOutcome outcome =
      BlockingPostJson(receiver.url(), "{}", std::chrono::milliseconds(300));
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(outcome.status, 0);
  EXPECT_NE(outcome.failure.find("read"), std::string::npos) << outcome.failure;
  EXPECT_LT(waited, std::chrono::seconds(3));
}

TEST(BlockingPostJson, AnUnparsableUrlIsRefusedWithoutAConnection) {
  EXPECT_EQ(BlockingPostJson("ftp://example.com/", "{}", std::chrono::milliseconds(100)).failure,
            "not an http(s) URL");
}

// A webhook URL's path or query often is the receiver's secret (chat services' incoming
// webhooks): a failed delivery is logged with the scheme and host only.
TEST(LimitWebhook, AFailedDeliveryIsLoggedWithoutTheUrlsPathQueryOrUserInfo) {
  std::ostringstream logged;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged)));
  {
    LimitWebhookOptions options;
    options.default_url = "https://hooks.example.com:8443/services/T0/B1/s3cr3t?k=v";
    options.attempts = 1;
    std::atomic<int> posts{0};
    LimitWebhook webhook(
        options, [](const std::string&) { return std::string(); },
        [&posts](const std::string&, const std::string&, std::chrono::milliseconds,
                 std::string& failure) {
          failure = "connect: refused";
          ++posts;
          return 0;
        });
    webhook.Send("org", "{}");
    for (int i = 0; i < 200 && posts == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    webhook.Stop();
    EXPECT_EQ(posts, 1);
  }
  spdlog::set_default_logger(previous);
  const std::string text = logged.str();
  EXPECT_NE(text.find("https://hooks.example.com:8443"), std::string::npos) << text;
  for (const char* secret : {"s3cr3t", "k=v", "services"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in: " << text;
  }
}

}  // namespace
}  // namespace gatehouse
