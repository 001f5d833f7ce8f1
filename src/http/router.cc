#include "http/router.h"

#include <algorithm>

#include "core/text.h"

namespace gatehouse {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (start < path.size()) {
    if (path[start] == '/') {
      ++start;
      continue;
    }
    const std::size_t end = std::min(path.find('/', start), path.size());
    segments.push_back(path.substr(start, end - start));
    start = end;
  }
  return segments;
}

char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// "METHOD /a/b": the key of literal_ for `method` and `path`, its segments as SplitPath finds
// them (empty ones dropped), lowercased.
std::string LiteralKey(std::string_view method, std::string_view path) {
  std::string key;
  key.reserve(method.size() + 1 + path.size());
  key.append(method);
  key += ' ';
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '/') continue;
    key += '/';
    for (; i < path.size() && path[i] != '/'; ++i) key += LowerAscii(path[i]);
  }
  return key;
}

}  // namespace

void Router::Add(std::string_view method, std::string_view pattern, RouteHandler handler) {
  Route route{std::string(method), std::string(pattern), {}, {}, std::move(handler)};
  for (auto segment : SplitPath(pattern)) {
    const bool capture = segment.starts_with('{');
    route.segments.emplace_back(capture ? std::string_view("{}") : segment);
    route.captures.push_back(capture);
  }
  const std::size_t length = route.segments.size();
  if (by_length_.size() <= length) by_length_.resize(length + 1);
  if (std::find(route.captures.begin(), route.captures.end(), true) == route.captures.end()) {
    // Found by lookup unless an earlier capture route of its method takes its path first.
    const std::vector<std::string_view> segments(route.segments.begin(), route.segments.end());
    const bool overlapped =
        std::any_of(by_length_[length].begin(), by_length_[length].end(), [&](std::size_t earlier) {
          return routes_[earlier].method == route.method && Matches(routes_[earlier], segments);
        });
    if (!overlapped) literal_.try_emplace(LiteralKey(method, pattern), routes_.size());
  }
  by_length_[length].push_back(routes_.size());
  routes_.push_back(std::move(route));
}

bool Router::Matches(const Route& route, const std::vector<std::string_view>& segments) {
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (!route.captures[i] && !EqualsIgnoreCase(route.segments[i], segments[i])) return false;
  }
  return true;
}

PathParams Router::Captured(const Route& route, const std::vector<std::string_view>& segments) {
  PathParams captured;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (route.captures[i]) captured.emplace_back(segments[i]);
  }
  return captured;
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match match;
  if (path.find('%') == std::string_view::npos) {
    if (const auto it = literal_.find(LiteralKey(method, path)); it != literal_.end()) {
      match.kind = Match::Kind::kFound;
      match.handler = &routes_[it->second].handler;
      match.pattern = &routes_[it->second].pattern;
      return match;
    }
  }
  // Split first, then decode: an encoded '/' (%2F) stays inside its segment, so a capture can
  // hold one (a model named "vendor/model").
  auto segments = SplitPath(path);
  std::vector<std::string> decoded;  // allocated only for a path with an escape
  if (path.find('%') != std::string_view::npos) {
    decoded.reserve(segments.size());  // the views below point into it: it never reallocates
    for (auto& segment : segments) {
      if (segment.find('%') == std::string_view::npos) continue;
      segment = decoded.emplace_back(PercentDecode(segment, false));
    }
  }
  if (segments.size() >= by_length_.size()) return match;
  for (const std::size_t position : by_length_[segments.size()]) {
    const Route& route = routes_[position];
    if (!Matches(route, segments)) continue;
    if (route.method == method) {
      match.kind = Match::Kind::kFound;
      match.handler = &route.handler;
      match.pattern = &route.pattern;
      match.params = Captured(route, segments);
      return match;
    }
    match.kind = Match::Kind::kWrongMethod;
    if (match.allow.find(route.method) == std::string::npos) {
      match.allow += (match.allow.empty() ? "" : ", ") + route.method;
    }
  }
  return match;
}

std::vector<std::string> Router::Describe() const {
  std::vector<std::string> out;
  for (const auto& route : routes_) out.push_back(route.method + " " + route.pattern);
  return out;
}

}  // namespace gatehouse
