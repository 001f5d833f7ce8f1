#include "core/url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace gatehouse {
namespace {

bool IsSpaceOrControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte == 0x7f;
}

// A port's digits as a number, 1-65535 (no sign; leading zeros allowed, as RFC 3986 allows
// them); 0 for anything else.
unsigned PortOf(std::string_view digits) {
  unsigned value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  const bool whole = error == std::errc() && end == digits.data() + digits.size();
  return whole && value <= 65535 ? value : 0;
}

bool IsUnreserved(char c) {  // RFC 3986 §2.3
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// A reg-name's characters (RFC 3986 §3.2.2) but its percent-encoding: unreserved and
// sub-delims. A name outside ASCII is given in its A-label form ("xn--...").
bool IsNameCharacter(char c) {
  return IsUnreserved(c) || std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}

bool IsIpv6Address(const std::string& text) {
  in6_addr address;
  return ::inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

// `rest` (path and query) as a request-target can carry it: what RFC 3986 allows in neither
// (bytes above ASCII, and " < > \ ^ ` { | }) is percent-encoded, as browsers send it; a '%'
// already there is the URL's own encoding and stays.
std::string TargetOf(std::string_view rest) {
  std::string target;
  target.reserve(rest.size() + 1);
  if (!rest.starts_with('/')) target += '/';
  constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : rest) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 || std::string_view("\"<>\\^`{|}").find(c) != std::string_view::npos) {
      target += '%';
      target += kHex[byte >> 4];
      target += kHex[byte & 0xf];
    } else {
      target += c;
    }
  }
  return target;
}

}  // namespace

std::optional<ParsedUrl> ParseUrl(std::string_view url) {
  if (std::any_of(url.begin(), url.end(), IsSpaceOrControl)) return std::nullopt;
  ParsedUrl parsed;
  if (url.starts_with("https://")) {
    parsed.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const auto authority_end = std::min(url.find_first_of("/?#"), url.size());
  std::string_view authority = url.substr(0, authority_end);
  std::string_view rest = url.substr(authority_end);
  rest = rest.substr(0, rest.find('#'));
  parsed.target = TargetOf(rest);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;

  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return std::nullopt;
    if (!after.empty()) port = after.substr(1);
    const std::string_view literal = authority.substr(1, close - 1);
    // A zone id is written "%25" in a URL (RFC 6874) and "%" for the address parser.
    const auto zone = literal.find("%25");
    const std::string address(literal.substr(0, zone));
    if (!IsIpv6Address(address)) return std::nullopt;  // brackets hold an IPv6 address only
    parsed.host = address;
    if (zone != std::string_view::npos) {
      const std::string_view zone_id = literal.substr(zone + 3);
      if (zone_id.empty() || !std::all_of(zone_id.begin(), zone_id.end(), IsUnreserved)) {
        return std::nullopt;
      }
      parsed.host += '%';
      parsed.host += zone_id;
    }
  } else {
    const auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
    }
    if (!std::all_of(authority.begin(), authority.end(), IsNameCharacter)) return std::nullopt;
    parsed.host = std::string(authority);
  }
  if (parsed.host.empty()) return std::nullopt;
  if (port.empty()) {
    parsed.port = parsed.tls ? "443" : "80";
  } else if (const unsigned number = PortOf(port); number != 0) {
    parsed.port = std::to_string(number);  // ":0080" is port 80, and the scheme's for http
  } else {
    return std::nullopt;  // letters (a service name the resolver would look up), 0, too big
  }
  return parsed;
}

bool ParsedUrl::IsAddress() const {
  if (host.find(':') != std::string::npos) return true;  // ParseUrl took it for IPv6
  in_addr address;
  return ::inet_pton(AF_INET, host.c_str(), &address) == 1;
}

std::string ParsedUrl::HostHeader() const {
  std::string header;
  const bool ipv6_literal = host.find(':') != std::string::npos;
  if (ipv6_literal) header += '[';
  header += name();
  if (ipv6_literal) header += ']';
  if (port != (tls ? "443" : "80")) {
    header += ':';
    header += port;
  }
  return header;
}

std::string UrlOrigin(std::string_view url) {
  if (url.empty()) return "";
  const auto parsed = ParseUrl(url);
  if (!parsed) return "(not a URL the client can call)";
  return (parsed->tls ? "https://" : "http://") + parsed->HostHeader();
}

}  // namespace gatehouse
