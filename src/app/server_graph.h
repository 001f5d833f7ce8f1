#ifndef GATEHOUSE_APP_SERVER_GRAPH_H_
#define GATEHOUSE_APP_SERVER_GRAPH_H_

#include <memory>
#include <string>

#include "api/api_context.h"
#include "api/route_table.h"
#include "app/instance.h"
#include "auth/authenticator.h"
#include "auth/console_sessions.h"
#include "gateway/chat.h"
#include "gateway/providers.h"
#include "http/message.h"
#include "http/upstream_client.h"
#include "usage/limit_webhook.h"
#include "usage/metrics.h"
#include "usage/request_export.h"
#include "usage/request_log.h"

namespace gatehouse {

// The composition root of `serve`: everything the API needs on top of an opened data directory
// (authentication, sessions, providers, the request log and export, metrics), wired into
// ApiServices and the route table. The tests build the same graph. `instance` must outlive it.
class ServerGraph {
 public:
  // `web_dir`: the built console (also the source of the OpenAPI descriptions).
  ServerGraph(Instance& instance, const ServerConfig& config, std::string web_dir);
  ~ServerGraph();
  ServerGraph(const ServerGraph&) = delete;
  ServerGraph& operator=(const ServerGraph&) = delete;

  // The HTTP server's handler; the graph must outlive it.
  HttpHandler Handler() const;

  const RouteTable& routes() const { return routes_; }
  RequestLog& request_log() { return request_log_; }
  UsageLimits& usage_limits() { return usage_limits_; }
  Metrics& metrics() { return metrics_; }
  ConsoleSignOuts& sign_outs() { return sign_outs_; }

 private:
  void AddSamples(Instance& instance);

  TokenDirectory& tokens_;  // the instance's, told of this graph's console sessions

  ConsoleSessions sessions_;
  ConsoleSignOuts sign_outs_;
  Authenticator authenticator_;
  const ProviderRegistry providers_;
  UsageLimits usage_limits_;
  LimitWebhook limit_webhook_;
  LeakedSecrets leaked_secrets_;
  RequestLog request_log_;
  AsioUpstreamClient upstream_client_;
  Gateway gateway_;
  RequestExporter exports_;
  ExportSlots export_slots_;
  Metrics metrics_;
  ApiServices services_;
  RouteTable routes_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_APP_SERVER_GRAPH_H_
