#ifndef GATEHOUSE_CORE_URL_H_
#define GATEHOUSE_CORE_URL_H_

// An http:// or https:// URL taken apart for a client that connects to it: the upstream client
// (http/upstream_target.h) and the webhook's POST (http/blocking_post.cc). The places a URL
// enters (the configuration, the admin API) check it with the same parser, so that a URL is
// refused where it is given rather than at its first call.

#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

struct ParsedUrl {
  bool tls = false;
  std::string host;    // what is looked up or connected to: an IPv6 literal keeps its zone id
  std::string port;    // 1-65535 in decimal; the scheme's own when the URL gives none
  std::string target;  // path and query, starting with '/'; the fragment is never sent
  // The host as the server knows it (Host, SNI, the certificate's name): without the zone id,
  // which means something only on this machine (RFC 6874).
  std::string_view name() const { return std::string_view(host).substr(0, host.find('%')); }
  // True when the host is an IP address rather than a name: a TLS client sends no server name
  // for it (RFC 6066 §3).
  bool IsAddress() const;
  // The Host header's value (RFC 9110 §7.2): the name, an IPv6 literal in brackets, and the port
  // unless it is the scheme's.
  std::string HostHeader() const;
};

// `url`'s parts; nullopt unless it is http:// or https:// (lower case), a host (a name in
// RFC 3986's reg-name characters without percent-encoding, an IPv4 address, or a bracketed IPv6
// address with an optional "%25" and zone id), an optional port 1-65535 (empty means the
// scheme's), and no user info, space or control character anywhere: a request line or Host
// header is written from these parts, so none may end a line. What RFC 3986 allows nowhere in a
// path or query (bytes above ASCII, " < > \ ^ ` { | }) is percent-encoded in the target.
std::optional<ParsedUrl> ParseUrl(std::string_view url);

// What a log line or an audit entry may show of `url`: its scheme and authority without user
// info ("https://hooks.example:8443"), as ParseUrl reads them; a placeholder for a URL it refuses.
// A webhook's path and query often carry the receiver's secret, and its user info a password.
// "" for "".
std::string UrlOrigin(std::string_view url);

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_URL_H_
