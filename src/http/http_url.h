#ifndef GATEHOUSE_HTTP_HTTP_URL_H_
#define GATEHOUSE_HTTP_HTTP_URL_H_

// An http:// or https:// URL taken apart for a client that connects to it: the upstream client
// (http/upstream_target.h) and the webhook's blocking POST (http/blocking_post.cc).

#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

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

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_HTTP_URL_H_
