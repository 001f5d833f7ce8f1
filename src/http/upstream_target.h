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
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gatehouse {
namespace upstream_target {

struct ParsedUrl {
  bool tls = false;
  std::string host;  // what is looked up or connected to: an IPv6 literal keeps its zone id
  std::string port;
  std::string target;
  // The host as the server knows it (Host, SNI, the certificate's name): without the zone id,
  // which means something only on this machine (RFC 6874).
  std::string_view name() const { return std::string_view(host).substr(0, host.find('%')); }
};

// An http:// or https:// URL's parts; nullopt for anything else.
inline std::optional<ParsedUrl> ParseUrl(std::string_view url) {
  ParsedUrl parsed;
  if (url.starts_with("https://")) {
    parsed.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  parsed.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    parsed.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
  } else {
    parsed.port = parsed.tls ? "443" : "80";
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
    // A zone id is written "%25" in a URL (RFC 6874) and "%" for the address parser.
    if (const auto zone = authority.find("%25"); zone != std::string_view::npos) {
      parsed.host =
          std::string(authority.substr(0, zone)) + "%" + std::string(authority.substr(zone + 3));
      return zone > 0 && zone + 3 < authority.size() ? std::optional(parsed) : std::nullopt;
    }
  }
  if (authority.empty()) return std::nullopt;
  parsed.host = std::string(authority);
  return parsed;
}

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
  head = "POST " + url->target + " HTTP/1.1\r\nHost: ";
  // An IPv6 literal is written in brackets, as in the URL (RFC 9110's Host is uri-host).
  const bool ipv6_literal = url->host.find(':') != std::string::npos;
  if (ipv6_literal) head += '[';
  head += url->name();
  if (ipv6_literal) head += ']';
  if (url->port != (url->tls ? "443" : "80")) {
    head += ':';
    head += url->port;
  }
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
