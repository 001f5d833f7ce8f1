#ifndef GATEHOUSE_API_ROUTE_TABLE_H_
#define GATEHOUSE_API_ROUTE_TABLE_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api_context.h"
#include "auth/authenticator.h"
#include "http/router.h"

namespace gatehouse {

// A handler that answers 200 with its value, or its error.
using JsonHandler = std::function<Result<boost::json::value>(ApiServices&, const ApiCall&)>;
// A handler that fills the response itself (streams, cookies, other content types).
using ResponseHandler = std::function<void(ApiServices&, const ApiCall&, HttpResponse&)>;
// What a route that runs models does with a call refused after its caller was identified: for
// its address or rate (API.md §3: such calls are recorded as failed), or for its query text.
// Runs on the event loop, memory only.
using RefusalHandler = std::function<void(ApiServices&, const ApiCall&, const Error&)>;

// Where a route's handler runs. Nothing blocks an event loop: a handler that may wait on the
// store (or the disk, or a lock held by a writer) runs on the server's small blocking pool,
// after authentication on the loop.
enum class Work {
  kStore,     // may touch the store: runs on the blocking pool (the default)
  kInMemory,  // memory only, or asynchronous (upstream calls): runs on the event loop
};

// One registered route, who may call it and where it runs.
struct RouteSpec {
  std::string method;
  std::string pattern;
  Access access = Access::kPublic;
  SessionUse sessions = SessionUse::kAllowed;
  Work work = Work::kStore;
};

// The one list of who may call what. Every route is registered here with its access rule;
// the route authenticates the request through Authenticator::Authorize before its handler
// runs, so handlers receive the caller and never read credentials themselves. Failures are
// counted in Metrics by reason. Handlers of Work::kStore routes then run on the blocking pool
// (HttpResponse::deferred) with their own copies of the path parameters and the caller.
// Built at start-up, then read-only; `services` must outlive it.
class RouteTable {
 public:
  explicit RouteTable(ApiServices& services) : services_(services) {}
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // Routes are tried in the order added; add literal routes before overlapping captures.
  void AddJson(std::string_view method, std::string_view pattern, Access access,
               JsonHandler handler, SessionUse sessions = SessionUse::kAllowed,
               Work work = Work::kStore);
  void Add(std::string_view method, std::string_view pattern, Access access,
           ResponseHandler handler, SessionUse sessions = SessionUse::kAllowed,
           Work work = Work::kStore, RefusalHandler refused = {});

  const Router& router() const { return router_; }
  const std::vector<RouteSpec>& routes() const { return routes_; }
  ApiServices& services() const { return services_; }

 private:
  ApiServices& services_;
  Router router_;
  std::vector<RouteSpec> routes_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_API_ROUTE_TABLE_H_
