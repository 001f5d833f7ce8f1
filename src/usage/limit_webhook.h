#ifndef GATEHOUSE_USAGE_LIMIT_WEBHOOK_H_
#define GATEHOUSE_USAGE_LIMIT_WEBHOOK_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "usage/usage_limits.h"

namespace gatehouse {

struct LimitWebhookOptions {
  std::string default_url;  // [server] limit_webhook_url; used when an organization has none
  int attempts = 5;         // deliveries tried per notice
  std::chrono::milliseconds first_backoff{500};  // doubled after each failed attempt
  std::chrono::milliseconds timeout{5000};
};

// Sends one JSON body to a URL and returns the HTTP status, or 0 with `failure` set (the
// transport lives in http/; app/ wires it in).
using WebhookPost = std::function<int(const std::string& url, const std::string& body,
                                      std::chrono::milliseconds timeout, std::string& failure)>;

// POSTs limit crossings (and other organization notices, Send) as JSON to the organization's
// webhook URL (else the server's), on a thread of its own so that no request waits for it; a failed
// delivery (no answer, or not 2xx) is retried with exponential backoff. `url_of` returns an
// organization's own URL (empty = none); both it and `post` are called on the sender's thread.
// Thread-safe; Stop() (or the destructor) ends delivery after the attempt in progress.
class LimitWebhook final : public LimitNotifier {
 public:
  LimitWebhook(LimitWebhookOptions options,
               std::function<std::string(const std::string& organization_id)> url_of,
               WebhookPost post);
  ~LimitWebhook() override;
  LimitWebhook(const LimitWebhook&) = delete;
  LimitWebhook& operator=(const LimitWebhook&) = delete;

  void Notify(const LimitNotice& notice) override;
  // Queues any other notice of an organization (e.g. "token.leaked", API.md §3): `body` is the
  // JSON sent, with the same URL choice and retries as limit notices.
  void Send(const std::string& organization_id, std::string body);
  void Stop();

  // The JSON body of a notice.
  static std::string BodyOf(const LimitNotice& notice);

 private:
  struct Delivery {
    std::string organization_id;
    std::string body;
    int attempt = 0;
    std::chrono::steady_clock::time_point due;
  };

  void Run();

  const LimitWebhookOptions options_;
  const std::function<std::string(const std::string&)> url_of_;
  const WebhookPost post_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Delivery> queue_;  // guarded by mutex_
  bool stopping_ = false;       // guarded by mutex_
  std::thread thread_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_LIMIT_WEBHOOK_H_
