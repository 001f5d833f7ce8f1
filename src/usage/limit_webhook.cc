#include "usage/limit_webhook.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <string_view>

#include "core/url.h"

namespace gatehouse {

LimitWebhook::LimitWebhook(LimitWebhookOptions options,
                           std::function<std::string(const std::string&)> url_of, WebhookPost post)
    : options_(std::move(options)),
      url_of_(std::move(url_of)),
      post_(std::move(post)),
      thread_([this] { Run(); }) {}

LimitWebhook::~LimitWebhook() { Stop(); }

void LimitWebhook::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string LimitWebhook::BodyOf(const LimitNotice& notice) {
  const UsageLimit& limit = notice.limit;
  boost::json::object body{
      {"event", notice.action},
      {"timestamp", FormatTimestamp(notice.at)},
      {"organizationId", limit.organization_id},
      {"projectId", limit.project_id.empty() ? boost::json::value(nullptr)
                                             : boost::json::value(limit.project_id)},
      {"relatedEntityName", notice.entity_name},
      {"limitId", limit.id},
      {"subscriptionType", ToString(limit.subscription)},
      {"usageUnit", ToString(limit.unit)},
      {"softLimit", limit.soft_limit},
      {"hardLimit", limit.hard_limit},
      {"usedAmount", limit.used},
      {"validFrom", FormatTimestamp(limit.valid_from)},
  };
  return boost::json::serialize(body);
}

void LimitWebhook::Notify(const LimitNotice& notice) {
  Send(notice.limit.organization_id, BodyOf(notice));
}

void LimitWebhook::Send(const std::string& organization_id, std::string body) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(
        Delivery{organization_id, std::move(body), 0, std::chrono::steady_clock::now()});
  }
  wake_.notify_all();
}

void LimitWebhook::Run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stopping_) return;
    if (queue_.empty()) {
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      continue;
    }
    auto next = std::min_element(queue_.begin(), queue_.end(),
                                 [](const auto& a, const auto& b) { return a.due < b.due; });
    if (next->due > std::chrono::steady_clock::now()) {
      wake_.wait_until(lock, next->due);
      continue;
    }
    Delivery delivery = std::move(*next);
    queue_.erase(next);
    lock.unlock();
    std::string url = url_of_(delivery.organization_id);
    if (url.empty()) url = options_.default_url;
    bool delivered = url.empty();  // nowhere to send: nothing to retry
    if (!url.empty()) {
      std::string failure;
      const int status = post_(url, delivery.body, options_.timeout, failure);
      delivered = status >= 200 && status < 300;
      if (!delivered) {
        spdlog::warn("limit webhook delivery {} to {} failed: {}", delivery.attempt + 1,
                     UrlOrigin(url), status ? "status " + std::to_string(status) : failure);
      }
    }
    lock.lock();
    if (!delivered && ++delivery.attempt < options_.attempts) {
      delivery.due =
          std::chrono::steady_clock::now() + options_.first_backoff * (1 << (delivery.attempt - 1));
      queue_.push_back(std::move(delivery));
    }
  }
}

}  // namespace gatehouse
