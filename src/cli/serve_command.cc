#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <iostream>

#include "api/routes.h"
#include "app/cache_maintenance.h"
#include "app/instance.h"
#include "app/server_graph.h"
#include "cli/commands.h"
#include "cli/init_output.h"
#include "cli/json_log.h"
#include "core/free_memory.h"
#include "core/loop_scheduling.h"
#include "http/server.h"
#include "usage/metrics.h"

namespace gatehouse {
namespace {

constexpr auto kMaintenanceInterval = std::chrono::seconds(1);

void AddSchedulingSamples(Metrics& metrics, const LoopSchedulingControl& scheduling) {
  metrics.AddSample("gatehouse_event_loops_batch", "gauge",
                    "Event loops running under SCHED_BATCH ([server] loop_scheduling).",
                    [&scheduling] { return double(scheduling.loops_in_batch()); });
  metrics.AddSample("gatehouse_event_loop_scheduling_changes_total", "counter",
                    "Changes of an event loop's policy made by adaptive scheduling.",
                    [&scheduling] { return double(scheduling.changes()); });
  metrics.AddSample("gatehouse_event_loop_scheduling_refusals_total", "counter",
                    "Policy changes the kernel refused (that loop keeps the policy it has).",
                    [&scheduling] { return double(scheduling.refusals()); });
}

}  // namespace

int RunServe(const ServerConfig& config, int threads) {
  ConfigureJsonLogging();
  const SystemClock clock;
  Instance instance(config, clock);
  if (const auto created = instance.InitializeIfNeeded()) {
    std::cout << CreatedOrganizationJson(*created) << std::endl;
    spdlog::info("initialized {}; the organization token above is shown once", config.data_dir);
  }
  OrThrow(instance.tokens().LoadCache(), "cannot load tokens");
  OrThrow(instance.assistants().Load(), "cannot load assistants");
  ServerGraph graph(instance, config,
                    config.web_dir.empty() ? GATEHOUSE_DEFAULT_WEB_DIR : config.web_dir);

  const ListenAddress listen = ParseListenAddress(config.listen);
  ServerOptions options;
  options.host = listen.host;
  options.port = listen.port;
  options.max_body = static_cast<std::size_t>(config.max_body);
  options.threads = threads;
  options.transport_error = WriteTransportError;
  options.write_timeout = std::chrono::milliseconds(config.write_timeout_ms);
  options.tls_cert = config.tls_cert;
  options.tls_key = config.tls_key;
  for (const auto& proxy : config.trusted_proxies) {
    if (auto block = CidrBlock::Parse(proxy)) options.trusted_proxies.push_back(*block);
  }
  // A loop's records are journaled together, with one write() before its next send.
  RequestLog& request_log = graph.request_log();
  std::atomic<bool> refusal_logged = false;
  const RequestRate::Bounds rate_bounds{.batch_from = config.loop_batch_rate,
                                        .normal_below = config.loop_batch_rate / 2};
  LoopSchedulingControl scheduling(
      LoopSchedulingNamed(config.loop_scheduling).value_or(LoopScheduling::kNormal), rate_bounds,
      [&refusal_logged](LoopScheduling wanted, int error) {
        if (refusal_logged.exchange(true)) return;
        spdlog::warn("loop_scheduling: the kernel refused {} ({}); a loop keeps the policy it has",
                     wanted == LoopScheduling::kBatch ? "SCHED_BATCH" : "SCHED_OTHER",
                     std::strerror(error));
      });
  options.on_loop_start = [&request_log, &scheduling] {
    request_log.DeferJournalOnThisThread();
    scheduling.Start();
  };
  if (scheduling.scheduling() == LoopScheduling::kAdaptive) {
    options.on_request = [&scheduling] { scheduling.OnRequest(); };
  }
  options.before_send = [&request_log] { request_log.FlushJournal(); };
  // A record appended after the loop's last write (a call whose client left) is journaled too.
  options.on_loop_stop = [&request_log] { request_log.FlushJournal(); };
  AddSchedulingSamples(graph.metrics(), scheduling);
  HttpServer server(options, graph.Handler());
  const std::uint16_t port = server.Listen();
  spdlog::info("listening on {}:{} ({}) with {} tokens cached", options.host, port,
               options.tls_cert.empty() ? "HTTP" : "HTTPS", instance.cache().size());
  spdlog::info("memory allocator: {}", AllocatorName());
  if (scheduling.scheduling() == LoopScheduling::kAdaptive) {
    spdlog::info(
        "event loops: adaptive scheduling (batch from {} requests/s a loop, normal below {})",
        rate_bounds.batch_from, rate_bounds.normal_below);
  } else {
    spdlog::info("event loops: {} scheduling", NameOf(scheduling.scheduling()));
  }
  {
    // On a store shared by several nodes, their assistant changes reach this catalog too.
    CacheMaintenance maintenance(instance.tokens(), kMaintenanceInterval, &graph.sign_outs(),
                                 instance.sqlite_store() ? nullptr : &instance.assistants());
    graph.usage_limits().StartSettling(kMaintenanceInterval);
    instance.store().WatchChanges(
        [&maintenance](StoreChange change) { maintenance.SyncSoon(change); });
    server.Run();
    instance.store().WatchChanges(nullptr);
  }
  request_log.Stop();  // every acknowledged call is stored before the process ends
  if (auto synced = graph.sign_outs().Sync(); !synced) {
    spdlog::error("final console sign-out sync failed: {}", synced.error().internal);
  }
  // After the request log: the costs of its last records count, then every slice goes back.
  if (auto settled = graph.usage_limits().StopSettling(); !settled) {
    spdlog::error("final usage limit settlement failed: {}", settled.error().internal);
  }
  if (auto flushed = instance.tokens().FlushUsage(); !flushed) {
    spdlog::error("final usage flush failed: {}", flushed.error().internal);
  }
  spdlog::info("stopped; {} request records written, {} dropped", request_log.written(),
               request_log.dropped());
  return 0;
}

}  // namespace gatehouse
