#ifndef GATEHOUSE_HTTP_ROUTER_H_
#define GATEHOUSE_HTTP_ROUTER_H_

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/message.h"

namespace gatehouse {

// Values captured by the {placeholders} of a route pattern, in order.
using PathParams = std::vector<std::string>;
using RouteHandler = std::function<void(const HttpRequest&, const PathParams&, HttpResponse&)>;

// Maps (method, path) to a handler. Patterns are literal segments and `{name}` captures, e.g.
// "/v1/organization/project/{id}/tokens"; literal segments match case-insensitively.
// Routes are added at start-up, then the router is read-only and safe to share.
class Router {
 public:
  struct Match {
    enum class Kind { kFound, kNoRoute, kWrongMethod } kind = Kind::kNoRoute;
    const RouteHandler* handler = nullptr;
    const std::string* pattern = nullptr;  // the matched route's pattern, for metrics
    PathParams params;
    std::string allow;  // for kWrongMethod: "GET, PUT"
  };

  // Routes are tried in the order added; add literal routes before overlapping captures.
  void Add(std::string_view method, std::string_view pattern, RouteHandler handler);
  // The route for `method` and `path` (as sent: percent-encoded, without the query), or why
  // there is none (with the allowed methods). Each segment is decoded after the path is split,
  // so "%2F" is a '/' inside a segment, not a separator.
  Match Find(std::string_view method, std::string_view path) const;

  // Every registered "METHOD pattern", for documentation checks.
  std::vector<std::string> Describe() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{}" marks a capture
    std::vector<bool> captures;         // per segment: a capture, or a literal to compare
    RouteHandler handler;
  };
  static bool Matches(const Route& route, const std::vector<std::string_view>& segments);
  static PathParams Captured(const Route& route, const std::vector<std::string_view>& segments);

  std::vector<Route> routes_;
  // Positions in routes_ by segment count, in the order added: a path is tried only against
  // the routes of its own length.
  std::vector<std::vector<std::size_t>> by_length_;
  // "METHOD /literal/path" (lowercase) -> the route Find answers for it, for each route without
  // captures that no earlier capture route of its method overlaps: one lookup instead of a walk
  // through its length's routes. A path with an escape is always walked.
  std::unordered_map<std::string, std::size_t> literal_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_HTTP_ROUTER_H_
