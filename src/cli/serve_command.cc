#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "api/routes.h"
#include "cli/commands.h"
#include "cli/init_output.h"
#include "cli/instance.h"
#include "core/text.h"
#include "http/server.h"
#include "http/upstream_client.h"

namespace gatehouse {
namespace {

constexpr auto kMaintenanceInterval = std::chrono::seconds(1);

// Writes the log message as the contents of a JSON string, so that every line stays valid
// JSON whatever a message contains (quotes from SQLite errors, control characters).
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string_view text(message.payload.data(), message.payload.size());
    // Text that is not UTF-8 has its high bytes escaped so that the line stays valid JSON.
    const bool utf8 = IsValidUtf8(text);
    for (char c : text) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20 ||
              (!utf8 && static_cast<unsigned char>(c) >= 0x80)) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
            dest.append(std::string_view(escaped));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

void ConfigureLogging() {
  auto logger = spdlog::stderr_logger_mt("gatehouse");
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
  logger->set_formatter(std::move(formatter));
  spdlog::set_default_logger(logger);
}

// Splits "HOST:PORT" ("[::1]:PORT" for IPv6).
void ParseListen(const std::string& listen, ServerOptions& options) {
  const auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = listen.substr(colon + 1);
  char* end = nullptr;
  const long value = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || value < 0 || value > 65535) {
    throw std::runtime_error("invalid port in listen address " + listen);
  }
  options.host = host.empty() ? "127.0.0.1" : host;
  options.port = static_cast<std::uint16_t>(value);
}

// Once a second: apply token changes made elsewhere (CLI, other nodes) to the cache and persist
// last-used times. Stops when asked, without waiting out the interval.
class MaintenanceLoop {
 public:
  explicit MaintenanceLoop(TokenDirectory& tokens) : tokens_(tokens), thread_([this] { Run(); }) {}
  ~MaintenanceLoop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, kMaintenanceInterval, [this] { return stopping_; })) {
      lock.unlock();
      if (auto synced = tokens_.SyncCache(); !synced) {
        spdlog::error("token cache sync failed: {}", synced.error().internal);
      }
      if (auto flushed = tokens_.FlushUsage(); !flushed) {
        spdlog::error("usage flush failed: {}", flushed.error().internal);
      }
      lock.lock();
    }
  }

  TokenDirectory& tokens_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace

int RunServe(const ServerConfig& config, int threads) {
  ConfigureLogging();
  Instance instance(config);
  if (!instance.Initialized()) {
    if (const auto created = instance.Initialize()) {
      std::cout << CreatedOrganizationJson(*created) << std::endl;
      spdlog::info("initialized {}; the organization token above is shown once", config.data_dir);
    }
  }
  if (auto loaded = instance.tokens().LoadCache(); !loaded) {
    throw std::runtime_error("cannot load tokens: " + loaded.error().internal);
  }

  RequestLog request_log(instance.store());
  Metrics metrics;
  metrics.AddSample("gatehouse_token_cache_size", "gauge", "Non-revoked tokens held in memory.",
                    [&instance] { return static_cast<double>(instance.cache().size()); });
  metrics.AddSample("gatehouse_request_log_queue_depth", "gauge",
                    "Request records waiting for their batch.",
                    [&request_log] { return static_cast<double>(request_log.queued()); });
  metrics.AddSample("gatehouse_request_log_written_total", "counter", "Request records stored.",
                    [&request_log] { return static_cast<double>(request_log.written()); });
  metrics.AddSample("gatehouse_request_log_dropped_total", "counter",
                    "Request records dropped because the queue was full.",
                    [&request_log] { return static_cast<double>(request_log.dropped()); });
  metrics.AddSample("gatehouse_request_log_flush_seconds", "gauge",
                    "Duration of the latest request-log batch write.",
                    [&request_log] { return request_log.last_flush_seconds(); });
  const ProviderRegistry providers(config.providers);
  AsioUpstreamClient upstream_client;
  Gateway gateway(upstream_client, request_log);
  metrics.AddSample("gatehouse_upstream_connections_open", "gauge",
                    "Upstream connections open (in use or idle).",
                    [&upstream_client] { return double(upstream_client.Figures().open); });
  metrics.AddSample("gatehouse_upstream_connections_idle", "gauge",
                    "Idle upstream connections kept for reuse.",
                    [&upstream_client] { return double(upstream_client.Figures().idle); });
  metrics.AddSample("gatehouse_upstream_connections_created_total", "counter",
                    "Upstream connections opened.",
                    [&upstream_client] { return double(upstream_client.Figures().created); });
  metrics.AddSample("gatehouse_upstream_connections_reused_total", "counter",
                    "Upstream calls served by a pooled connection.",
                    [&upstream_client] { return double(upstream_client.Figures().reused); });
  Authenticator authenticator(instance.keyring(), instance.cache(), instance.AdminSecretHash());
  ConsoleSessions sessions(kConsoleSessionLifetimeMs);
  ApiServices services{instance.store(),
                       instance.cache(),
                       authenticator,
                       instance.tokens(),
                       instance.projects(),
                       instance.organizations(),
                       sessions,
                       instance.assistants(),
                       providers,
                       gateway,
                       request_log,
                       metrics,
                       config.log_content,
                       config.web_dir.empty() ? GATEHOUSE_DEFAULT_WEB_DIR : config.web_dir};
  Router router;
  AddApiRoutes(router, services);

  ServerOptions options;
  ParseListen(config.listen, options);
  options.max_body = static_cast<std::size_t>(config.max_body);
  options.threads = threads;
  options.transport_error = WriteTransportError;
  HttpServer server(options, MakeApiHandler(router, services));
  const std::uint16_t port = server.Listen();
  spdlog::info("listening on {}:{} with {} tokens cached", options.host, port,
               instance.cache().size());
  {
    MaintenanceLoop maintenance(instance.tokens());
    server.Run();
  }
  request_log.Stop();  // every acknowledged call is stored before the process ends
  if (auto flushed = instance.tokens().FlushUsage(); !flushed) {
    spdlog::error("final usage flush failed: {}", flushed.error().internal);
  }
  spdlog::info("stopped; {} request records written, {} dropped", request_log.written(),
               request_log.dropped());
  return 0;
}

}  // namespace gatehouse
