#ifndef GATEHOUSE_CONFIG_CONFIG_H_
#define GATEHOUSE_CONFIG_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

namespace gatehouse {

struct ModelPrice {
  std::string name;
  double input_usd_per_mtok = 0;
  double output_usd_per_mtok = 0;
  // A price key was given. A model listed without either is unpriced: its answers get no cost
  // fields (zeros would tell the client the call was free), as with a provider listing none.
  bool priced = false;
};

// An OpenAI-compatible upstream (API.md §8, §11). The key itself is read from the named
// environment variable when used, never stored here.
struct ProviderConfig {
  std::string name;
  std::string base_url;
  std::string api_key_env;
  std::int64_t timeout_ms = 60000;  // the whole call, and each wait unless set below
  std::vector<ModelPrice> models;
  std::int64_t first_byte_timeout_ms = 0;     // call start to response head; 0 = timeout_ms
  std::int64_t read_timeout_ms = 0;           // between body reads; 0 = timeout_ms
  std::int64_t max_concurrent = 0;            // calls in flight to this provider; 0 = no cap
  std::int64_t max_concurrent_per_token = 0;  // of them, per project token; 0 = no cap
};

// The settings of API.md §11 with their defaults.
// The bounds of [server] loop_batch_rate: below about 50 requests a second every window that is
// not quiet would count as busy.
inline constexpr std::int64_t kMinLoopBatchRate = 100;
inline constexpr std::int64_t kMaxLoopBatchRate = 100'000'000;

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./data";
  std::string store = "sqlite";
  std::string master_key_file;   // default: <data_dir>/master.key
  std::string admin_token_file;  // default: <data_dir>/admin.token
  std::string web_dir;           // default: the console built beside the sources
  std::int64_t max_body = 1048576;
  std::string reveal = "sealed";  // or "never"
  bool log_content = true;
  std::string limit_webhook_url;  // soft/hard limit notices (POST, JSON); empty = none
  std::string metrics_token;      // when set, GET /metrics requires "Bearer <metrics_token>"
  std::string tls_cert;           // PEM files: the server speaks HTTPS when both are set
  std::string tls_key;
  std::int64_t write_timeout_ms = 30000;   // a write to a client that makes no progress fails
  std::int64_t max_exports_per_token = 4;  // request exports streaming at once
  std::int64_t max_exports_per_organization = 8;
  // CIDR blocks of reverse proxies whose X-Forwarded-For is believed for the client address
  // (API.md §11); each one parses as a CidrBlock (checked when read).
  std::vector<std::string> trusted_proxies;
  // Request records waiting for the store at most (a full disk); beyond it they are dropped
  // and counted in /metrics, so memory stays bounded.
  std::int64_t request_log_capacity = 100000;
  // How the kernel schedules the event loops (core/loop_scheduling.h; README, Configuration):
  // "adaptive" (SCHED_BATCH while a loop answers at a high rate: a loop woken by a request
  // then does not preempt the task on its core), "normal" or "batch" (always SCHED_BATCH).
  std::string loop_scheduling = "adaptive";
  // Requests a second, read by one loop over 20 ms, from which "adaptive" puts the loop under
  // SCHED_BATCH; it goes back to normal below half of it (kMinLoopBatchRate to kMaxLoopBatchRate).
  std::int64_t loop_batch_rate = 20000;
  std::vector<ProviderConfig> providers;

  std::string MasterKeyFile() const;
  std::string AdminTokenFile() const;
  std::string DatabaseFile() const;
};

// The host and port of a listen address "HOST:PORT" ("[::1]:PORT" for IPv6; an empty host is
// 127.0.0.1). Throws std::runtime_error for a port that is not 0–65535.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
ListenAddress ParseListenAddress(const std::string& listen);

// Reads `path` (TOML) into `config`, leaving keys the file does not set untouched.
// Throws std::runtime_error naming the file, line and key for an unknown key, a wrong type,
// or a provider without base_url. Start-up only.
void LoadConfigFile(const std::string& path, ServerConfig& config);

// Applies GATEHOUSE_<KEY> environment variables to the [server] keys (they win over both the
// file and the flags). Throws std::runtime_error for a malformed value.
void ApplyEnvironment(ServerConfig& config);

// Checks values that every source must respect (reveal mode, store kind, body limit, TLS files
// given in pairs, positive timeouts and export bounds).
void ValidateConfig(const ServerConfig& config);

}  // namespace gatehouse

#endif  // GATEHOUSE_CONFIG_CONFIG_H_
