#include "app/server_graph.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "api/routes.h"
#include "http/blocking_post.h"

namespace gatehouse {
namespace {

// This node's name in the store's usage slices: its host and data directory, the same across
// restarts (a restarted node takes its own slices back) and different for every node.
std::string NodeId(const std::string& data_dir) {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::error_code error;
  const auto path = std::filesystem::weakly_canonical(data_dir, error);
  return std::string(host) + ":" + (error ? data_dir : path.string());
}

}  // namespace

ServerGraph::ServerGraph(Instance& instance, const ServerConfig& config, std::string web_dir)
    : tokens_(instance.tokens()),
      sessions_(instance.keyring(), kConsoleSessionLifetimeMs),
      sign_outs_(instance.store(), sessions_, instance.clock()),
      authenticator_(instance.keyring(), instance.cache(), sessions_, instance.clock(),
                     instance.AdminSecretHash(), config.metrics_token),
      providers_(config.providers),
      usage_limits_(instance.store(), instance.clock(), nullptr, NodeId(config.data_dir)),
      limit_webhook_(
          LimitWebhookOptions{config.limit_webhook_url},
          [&organizations = instance.organizations()](const std::string& id) {
            auto url = organizations.Webhook(id);
            return url ? *url : std::string();
          },
          [](const std::string& url, const std::string& body, std::chrono::milliseconds timeout,
             std::string& failure) {
            PostOutcome outcome = BlockingPostJson(url, body, timeout);
            failure = std::move(outcome.failure);
            return outcome.status;
          }),
      leaked_secrets_(instance.keyring(), instance.cache(), instance.tokens(), instance.clock(),
                      [this](const std::string& organization_id, std::string body) {
                        limit_webhook_.Send(organization_id, std::move(body));
                      }),
      request_log_(
          instance.store(),
          RequestLogOptions{.capacity = static_cast<std::size_t>(config.request_log_capacity)}),
      gateway_(upstream_client_, request_log_),
      exports_(instance.store()),
      export_slots_(config.max_exports_per_token, config.max_exports_per_organization),
      services_{authenticator_,
                instance.cache(),
                sessions_,
                sign_outs_,
                instance.tokens(),
                leaked_secrets_,
                instance.projects(),
                instance.organizations(),
                instance.assistants(),
                instance.audit(),
                usage_limits_,
                providers_,
                gateway_,
                request_log_,
                exports_,
                export_slots_,
                metrics_,
                instance.clock(),
                [&store = instance.store(), this] {
                  return !request_log_.failing() && store.Ping().has_value();
                },
                config.log_content,
                std::move(web_dir)},
      routes_(services_) {
  OrThrow(usage_limits_.Load(), "cannot load usage limits");
  OrThrow(sign_outs_.Load(), "cannot load console sign-outs");
  usage_limits_.set_notifier(&limit_webhook_);
  request_log_.set_observer(&usage_limits_);
  const std::size_t replayed =
      OrThrow(request_log_.OpenJournal(config.data_dir), "cannot open the request journal");
  if (replayed > 0) spdlog::info("replayed {} request records from the journal", replayed);
  AddApiRoutes(routes_);
  AddSamples(instance);
  tokens_.SetConsoleSessions(&sessions_);
}

ServerGraph::~ServerGraph() { tokens_.SetConsoleSessions(nullptr); }

HttpHandler ServerGraph::Handler() const { return MakeApiHandler(routes_); }

void ServerGraph::AddSamples(Instance& instance) {
  metrics_.AddSample("gatehouse_token_cache_size", "gauge", "Non-revoked tokens held in memory.",
                     [&cache = instance.cache()] { return static_cast<double>(cache.size()); });
  metrics_.AddSample("gatehouse_request_log_queue_depth", "gauge",
                     "Request records waiting for their batch.",
                     [this] { return static_cast<double>(request_log_.queued()); });
  metrics_.AddSample("gatehouse_request_log_written_total", "counter", "Request records stored.",
                     [this] { return static_cast<double>(request_log_.written()); });
  metrics_.AddSample("gatehouse_request_log_dropped_total", "counter",
                     "Request records dropped because the queue was full.",
                     [this] { return static_cast<double>(request_log_.dropped()); });
  metrics_.AddSample("gatehouse_request_log_journal_failures_total", "counter",
                     "Request records whose journal write failed (still queued for the store).",
                     [this] { return static_cast<double>(request_log_.journal_failures()); });
  metrics_.AddSample("gatehouse_request_log_store_failing", "gauge",
                     "1 while the latest request-log batch could not be stored.",
                     [this] { return request_log_.failing() ? 1.0 : 0.0; });
  metrics_.AddSample("gatehouse_request_log_flush_seconds", "gauge",
                     "Duration of the latest request-log batch write.",
                     [this] { return request_log_.last_flush_seconds(); });
  metrics_.AddSample("gatehouse_upstream_connections_open", "gauge",
                     "Upstream connections open (in use or idle).",
                     [this] { return double(upstream_client_.Figures().open); });
  metrics_.AddSample("gatehouse_upstream_connections_idle", "gauge",
                     "Idle upstream connections kept for reuse.",
                     [this] { return double(upstream_client_.Figures().idle); });
  metrics_.AddSample("gatehouse_upstream_connections_created_total", "counter",
                     "Upstream connections opened (TCP connected; failed tries are not).",
                     [this] { return double(upstream_client_.Figures().created); });
  metrics_.AddSample("gatehouse_upstream_connections_reused_total", "counter",
                     "Upstream calls sent on a pooled connection.",
                     [this] { return double(upstream_client_.Figures().reused); });
}

}  // namespace gatehouse
