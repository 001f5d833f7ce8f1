#ifndef GATEHOUSE_HTTP_UPSTREAM_TARGET_H_
#define GATEHOUSE_HTTP_UPSTREAM_TARGET_H_

// What a call's URL tells the upstream client: where to connect, which pooled connections serve
// it, and the start of its request. Worked out at a loop's first call to a URL and kept by the
// loop, so that a call costs a lookup, not a parse and a handful of strings. Part of
// http/upstream_client.cc, which alone includes it.

#include <boost/asio/execution_context.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/url.h"

namespace gatehouse {
namespace upstream_target {

struct Target {
  ParsedUrl url;
  // The idle connections that serve it: one client's (`owner`), to one scheme, host and port.
  std::string pool_key;
  // The request up to its Content-Length's value: start line, Host and User-Agent.
  std::string head;
};

// A provider's base URL (its trailing slashes dropped) and a path joined, for client `owner`;
// nullptr when that is no URL the client calls.
inline std::shared_ptr<const Target> MakeTarget(const void* owner, std::string_view base_url,
                                                std::string_view path) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  auto url = ParseUrl(std::string(base_url) + std::string(path));
  if (!url) return nullptr;
  auto target = std::make_shared<Target>();
  target->pool_key = std::to_string(reinterpret_cast<std::uintptr_t>(owner)) +
                     (url->tls ? " https://" : " http://") + url->host + ":" + url->port;
  std::string& head = target->head;
  head = "POST " + url->target + " HTTP/1.1\r\nHost: " + url->HostHeader();
  head += "\r\nUser-Agent: gatehouse\r\nContent-Length: ";
  target->url = std::move(*url);
  return target;
}

// The targets one event loop's calls went to, made at the first call to each. A service of the
// loop's io_context, used on its thread only.
class Targets final : public boost::asio::execution_context::service {
 public:
  using key_type = Targets;
  static inline boost::asio::execution_context::id id;

  explicit Targets(boost::asio::execution_context& context) : service(context) {}
  void shutdown() override { targets_.clear(); }

  // The target of `base_url` and `path` for client `owner` (MakeTarget), kept for the next call.
  std::shared_ptr<const Target> Find(const void* owner, std::string_view base_url,
                                     std::string_view path) {
    // The key: the owner, the base URL's length, the base URL and the path (no two pairs alike).
    key_.clear();
    const std::uintptr_t numbers[2] = {reinterpret_cast<std::uintptr_t>(owner), base_url.size()};
    key_.append(reinterpret_cast<const char*>(numbers), sizeof numbers);
    key_ += base_url;
    key_ += path;
    if (const auto found = targets_.find(key_); found != targets_.end()) return found->second;
    // Providers are few, but their URLs change with the configuration: what grew past the bound
    // starts over. A call under way holds its own target.
    if (targets_.size() >= kMaxTargets) targets_.clear();
    auto target = MakeTarget(owner, base_url, path);
    targets_.emplace(key_, target);
    return target;
  }

 private:
  static constexpr std::size_t kMaxTargets = 256;

  std::string key_;  // kept for its capacity
  std::unordered_map<std::string, std::shared_ptr<const Target>> targets_;
};

}  // namespace upstream_target
}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_UPSTREAM_TARGET_H_
