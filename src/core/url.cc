#include "core/url.h"

#include <algorithm>
#include <charconv>

namespace gatehouse {
namespace {

bool IsSpaceOrControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte == 0x7f;
}

// True for a port's digits, 1-65535 (no sign, at most five digits).
bool IsPort(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return false;
  unsigned value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return error == std::errc() && end == digits.data() + digits.size() && value >= 1 &&
         value <= 65535;
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
  parsed.target = rest.starts_with('/') ? std::string(rest) : "/" + std::string(rest);
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
    if (zone == std::string_view::npos) {
      parsed.host = std::string(literal);
    } else {
      if (zone == 0 || zone + 3 == literal.size()) return std::nullopt;
      parsed.host =
          std::string(literal.substr(0, zone)) + "%" + std::string(literal.substr(zone + 3));
    }
    if (parsed.host.find(':') == std::string::npos) return std::nullopt;  // not IPv6
  } else {
    const auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
    }
    if (authority.find_first_of("[]%") != std::string_view::npos) return std::nullopt;
    parsed.host = std::string(authority);
  }
  if (parsed.host.empty()) return std::nullopt;
  if (port.empty()) {
    parsed.port = parsed.tls ? "443" : "80";
  } else if (IsPort(port)) {
    parsed.port = std::string(port);
  } else {
    return std::nullopt;  // letters (a service name the resolver would look up), 0, too big
  }
  return parsed;
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
