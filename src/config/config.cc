#include "config/config.h"

#include <toml++/toml.h>

#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "core/ip_address.h"
#include "core/loop_scheduling.h"
#include "core/text.h"
#include "core/url.h"

namespace gatehouse {
namespace {

[[noreturn]] void Reject(const std::string& path, const toml::node& node, const std::string& key,
                         const std::string& problem) {
  throw std::runtime_error(path + ":" + std::to_string(node.source().begin.line) + ": key '" + key +
                           "': " + problem);
}

std::string String(const std::string& path, const std::string& key, const toml::node& node) {
  if (!node.is_string()) Reject(path, node, key, "expected a string");
  return *node.value<std::string>();
}

std::int64_t Integer(const std::string& path, const std::string& key, const toml::node& node) {
  if (!node.is_integer()) Reject(path, node, key, "expected an integer");
  return *node.value<std::int64_t>();
}

// An integer within [low, high]; anything else stops start-up with the bounds in the message.
std::int64_t IntegerIn(const std::string& path, const std::string& key, const toml::node& node,
                       std::int64_t low, std::int64_t high) {
  const std::int64_t value = Integer(path, key, node);
  if (value < low || value > high) {
    Reject(path, node, key,
           "must be between " + std::to_string(low) + " and " + std::to_string(high));
  }
  return value;
}

// A price in dollars: a negative one would lower metered spend, and with it every cost limit.
double Price(const std::string& path, const std::string& key, const toml::node& node) {
  if (!node.is_number()) Reject(path, node, key, "expected a number");
  const double price = *node.value<double>();
  if (!std::isfinite(price) || price < 0) Reject(path, node, key, "expected a price of 0 or more");
  return price;
}

bool Boolean(const std::string& path, const std::string& key, const toml::node& node) {
  if (!node.is_boolean()) Reject(path, node, key, "expected true or false");
  return *node.value<bool>();
}

std::vector<std::string> CidrList(const std::string& path, const std::string& key,
                                  const toml::node& node) {
  if (!node.is_array()) Reject(path, node, key, "expected a list of CIDR blocks");
  std::vector<std::string> blocks;
  for (const auto& entry : *node.as_array()) {
    if (!entry.is_string() || !CidrBlock::Parse(*entry.value<std::string>())) {
      Reject(path, entry, key, "expected CIDR blocks such as \"10.0.0.0/8\" or \"::1/128\"");
    }
    blocks.push_back(*entry.value<std::string>());
  }
  return blocks;
}

const toml::table& Table(const std::string& path, const std::string& key, const toml::node& node) {
  if (!node.is_table()) Reject(path, node, key, "expected a table");
  return *node.as_table();
}

void LoadServer(const std::string& path, const toml::table& table, ServerConfig& config) {
  for (const auto& [name, node] : table) {
    const std::string key = "server." + std::string(name.str());
    if (name == "listen")
      config.listen = String(path, key, node);
    else if (name == "data_dir")
      config.data_dir = String(path, key, node);
    else if (name == "store")
      config.store = String(path, key, node);
    else if (name == "master_key_file")
      config.master_key_file = String(path, key, node);
    else if (name == "admin_token_file")
      config.admin_token_file = String(path, key, node);
    else if (name == "web_dir")
      config.web_dir = String(path, key, node);
    else if (name == "max_body")
      config.max_body = Integer(path, key, node);
    else if (name == "reveal")
      config.reveal = String(path, key, node);
    else if (name == "log_content")
      config.log_content = Boolean(path, key, node);
    else if (name == "limit_webhook_url")
      config.limit_webhook_url = String(path, key, node);
    else if (name == "metrics_token")
      config.metrics_token = String(path, key, node);
    else if (name == "tls_cert")
      config.tls_cert = String(path, key, node);
    else if (name == "tls_key")
      config.tls_key = String(path, key, node);
    else if (name == "write_timeout_ms")
      config.write_timeout_ms = Integer(path, key, node);
    else if (name == "max_exports_per_token")
      config.max_exports_per_token = Integer(path, key, node);
    else if (name == "max_exports_per_organization")
      config.max_exports_per_organization = Integer(path, key, node);
    else if (name == "trusted_proxies")
      config.trusted_proxies = CidrList(path, key, node);
    else if (name == "request_log_capacity")
      config.request_log_capacity = Integer(path, key, node);
    else if (name == "loop_scheduling")
      config.loop_scheduling = String(path, key, node);
    else if (name == "loop_batch_rate")
      config.loop_batch_rate = IntegerIn(path, key, node, kMinLoopBatchRate, kMaxLoopBatchRate);
    else
      Reject(path, node, key, "unknown key");
  }
}

ModelPrice LoadModel(const std::string& path, const toml::table& table) {
  ModelPrice model;
  for (const auto& [name, node] : table) {
    const std::string key = "providers.models." + std::string(name.str());
    if (name == "name")
      model.name = String(path, key, node);
    else if (name == "input_usd_per_mtok")
      model.input_usd_per_mtok = Price(path, key, node);
    else if (name == "output_usd_per_mtok")
      model.output_usd_per_mtok = Price(path, key, node);
    else
      Reject(path, node, key, "unknown key");
  }
  if (model.name.empty()) Reject(path, table, "providers.models.name", "is required");
  model.priced = table.contains("input_usd_per_mtok") || table.contains("output_usd_per_mtok");
  return model;
}

// A provider's timeouts are at most a day, its caps at most a million calls: larger values are
// typing mistakes, and a timeout past the clock's range would wrap.
constexpr std::int64_t kMaxProviderTimeoutMs = 24LL * 60 * 60 * 1000;
constexpr std::int64_t kMaxProviderCap = 1'000'000;

ProviderConfig LoadProvider(const std::string& path, const toml::table& table) {
  ProviderConfig provider;
  for (const auto& [name, node] : table) {
    const std::string key = "providers." + std::string(name.str());
    if (name == "name")
      provider.name = String(path, key, node);
    else if (name == "base_url")
      provider.base_url = String(path, key, node);
    else if (name == "api_key_env")
      provider.api_key_env = String(path, key, node);
    else if (name == "timeout_ms")
      provider.timeout_ms = IntegerIn(path, key, node, 1, kMaxProviderTimeoutMs);
    else if (name == "first_byte_timeout_ms")
      provider.first_byte_timeout_ms = IntegerIn(path, key, node, 0, kMaxProviderTimeoutMs);
    else if (name == "read_timeout_ms")
      provider.read_timeout_ms = IntegerIn(path, key, node, 0, kMaxProviderTimeoutMs);
    else if (name == "max_concurrent")
      provider.max_concurrent = IntegerIn(path, key, node, 0, kMaxProviderCap);
    else if (name == "max_concurrent_per_token")
      provider.max_concurrent_per_token = IntegerIn(path, key, node, 0, kMaxProviderCap);
    else if (name == "models") {
      if (!node.is_array()) Reject(path, node, key, "expected [[providers.models]] tables");
      for (const auto& model : *node.as_array()) {
        provider.models.push_back(LoadModel(path, Table(path, key, model)));
        for (std::size_t i = 0; i + 1 < provider.models.size(); ++i) {
          if (provider.models[i].name == provider.models.back().name) {
            Reject(path, model, "providers.models.name",
                   "\"" + provider.models.back().name + "\" is named twice");
          }
        }
      }
    } else {
      Reject(path, node, key, "unknown key");
    }
  }
  if (provider.name.empty()) Reject(path, table, "providers.name", "is required");
  if (provider.base_url.empty()) Reject(path, table, "providers.base_url", "is required");
  // A model is called as "<provider>/<model>": a provider named with a slash could never be.
  if (provider.name.find('/') != std::string::npos) {
    Reject(path, table, "providers.name", "must not contain '/'");
  }
  if (!provider.base_url.starts_with("http://") && !provider.base_url.starts_with("https://")) {
    Reject(path, table, "providers.base_url", "must start with http:// or https://");
  }
  // The base URL is shown to every token that lists providers: no credentials in it.
  const std::string_view after_scheme =
      std::string_view(provider.base_url).substr(provider.base_url.find("//") + 2);
  if (after_scheme.substr(0, after_scheme.find_first_of("/?#")).find('@') !=
      std::string_view::npos) {
    Reject(path, table, "providers.base_url",
           "must not carry credentials (user@host); the key comes from api_key_env");
  }
  if (provider.base_url.find_first_of("?#") != std::string::npos) {
    Reject(path, table, "providers.base_url",
           "must not carry a query or fragment: the gateway appends /chat/completions or "
           "/embeddings to it");
  }
  if (!ParseUrl(provider.base_url)) {
    Reject(path, table, "providers.base_url",
           "is not a URL the gateway can call: it needs a host, a port 1-65535 if it names one, "
           "and no space or control character");
  }
  return provider;
}

}  // namespace

std::string ServerConfig::MasterKeyFile() const {
  return master_key_file.empty() ? data_dir + "/master.key" : master_key_file;
}

std::string ServerConfig::AdminTokenFile() const {
  return admin_token_file.empty() ? data_dir + "/admin.token" : admin_token_file;
}

std::string ServerConfig::DatabaseFile() const { return data_dir + "/gatehouse.db"; }

void LoadConfigFile(const std::string& path, ServerConfig& config) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    throw std::runtime_error(path + ":" + std::to_string(error.source().begin.line) + ": " +
                             std::string(error.description()));
  }
  for (const auto& [name, node] : root) {
    const std::string key(name.str());
    if (name == "server") {
      LoadServer(path, Table(path, key, node), config);
    } else if (name == "providers") {
      if (!node.is_array()) Reject(path, node, key, "expected [[providers]] tables");
      for (const auto& provider : *node.as_array()) {
        config.providers.push_back(LoadProvider(path, Table(path, key, provider)));
        // Calls find a provider by its name without case: a second one would never be used.
        for (std::size_t i = 0; i + 1 < config.providers.size(); ++i) {
          if (EqualsIgnoreCase(config.providers[i].name, config.providers.back().name)) {
            Reject(path, provider, "providers.name",
                   "\"" + config.providers.back().name + "\" is named twice (names ignore case)");
          }
        }
      }
    } else {
      Reject(path, node, key, "unknown key");
    }
  }
}

void ApplyEnvironment(ServerConfig& config) {
  auto text = [](const char* name, std::string& target) {
    if (const char* value = std::getenv(name)) target = value;
  };
  text("GATEHOUSE_LISTEN", config.listen);
  text("GATEHOUSE_DATA_DIR", config.data_dir);
  text("GATEHOUSE_STORE", config.store);
  text("GATEHOUSE_MASTER_KEY_FILE", config.master_key_file);
  text("GATEHOUSE_ADMIN_TOKEN_FILE", config.admin_token_file);
  text("GATEHOUSE_WEB_DIR", config.web_dir);
  text("GATEHOUSE_REVEAL", config.reveal);
  text("GATEHOUSE_LIMIT_WEBHOOK_URL", config.limit_webhook_url);
  text("GATEHOUSE_METRICS_TOKEN", config.metrics_token);
  text("GATEHOUSE_TLS_CERT", config.tls_cert);
  text("GATEHOUSE_TLS_KEY", config.tls_key);
  if (const char* value = std::getenv("GATEHOUSE_TRUSTED_PROXIES")) {
    config.trusted_proxies.clear();
    std::string_view rest(value);
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view entry = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (entry.empty()) continue;
      if (!CidrBlock::Parse(entry)) {
        throw std::runtime_error("GATEHOUSE_TRUSTED_PROXIES: not a CIDR block: " +
                                 std::string(entry));
      }
      config.trusted_proxies.emplace_back(entry);
    }
  }
  auto integer = [](const char* name, std::int64_t& target) {
    const char* value = std::getenv(name);
    if (!value) return;
    char* end = nullptr;
    const long long parsed = std::strtoll(value, &end, 10);
    if (!*value || *end) throw std::runtime_error(std::string(name) + " must be a whole number");
    target = parsed;
  };
  integer("GATEHOUSE_MAX_BODY", config.max_body);
  integer("GATEHOUSE_REQUEST_LOG_CAPACITY", config.request_log_capacity);
  if (const char* value = std::getenv("GATEHOUSE_LOOP_SCHEDULING")) config.loop_scheduling = value;
  integer("GATEHOUSE_LOOP_BATCH_RATE", config.loop_batch_rate);
  if (const char* value = std::getenv("GATEHOUSE_LOG_CONTENT")) {
    if (EqualsIgnoreCase(value, "true") || std::string_view(value) == "1") {
      config.log_content = true;
    } else if (EqualsIgnoreCase(value, "false") || std::string_view(value) == "0") {
      config.log_content = false;
    } else {
      throw std::runtime_error("GATEHOUSE_LOG_CONTENT must be true or false");
    }
  }
}

void ValidateConfig(const ServerConfig& config) {
  if (config.reveal != "sealed" && config.reveal != "never") {
    throw std::runtime_error("reveal must be \"sealed\" or \"never\", not \"" + config.reveal +
                             "\"");
  }
  if (config.store != "sqlite" && !config.store.starts_with("postgres://") &&
      !config.store.starts_with("postgresql://")) {
    // Never echo the value: a mistyped URL may carry a password.
    throw std::runtime_error(
        "store must be \"sqlite\" or a PostgreSQL URL (postgres://user@host:port/database)");
  }
  if (config.request_log_capacity < 1 || config.request_log_capacity > 100000000) {
    throw std::runtime_error("request_log_capacity must be between 1 and 100000000 records");
  }
  if (config.max_body < 64 || config.max_body > (1LL << 30)) {
    throw std::runtime_error("max_body must be between 64 and 1073741824 bytes");
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    throw std::runtime_error(config.tls_cert.empty()
                                 ? "tls_key is set but tls_cert is missing: HTTPS needs both "
                                   "(--tls-cert and --tls-key, or [server] tls_cert and tls_key)"
                                 : "tls_cert is set but tls_key is missing: HTTPS needs both "
                                   "(--tls-cert and --tls-key, or [server] tls_cert and tls_key)");
  }
  // A day at most, like a provider's timeouts: a larger value would wrap the clock.
  if (config.write_timeout_ms < 1 || config.write_timeout_ms > 24LL * 60 * 60 * 1000) {
    throw std::runtime_error("write_timeout_ms must be 1 to 86400000 (a day)");
  }
  if (config.max_exports_per_token < 1 || config.max_exports_per_organization < 1) {
    throw std::runtime_error(
        "max_exports_per_token and max_exports_per_organization must be at least 1");
  }
  if (!LoopSchedulingNamed(config.loop_scheduling)) {
    throw std::runtime_error(
        "loop_scheduling must be \"adaptive\", \"normal\" or \"batch\", not \"" +
        config.loop_scheduling + "\"");
  }
  if (config.loop_batch_rate < kMinLoopBatchRate || config.loop_batch_rate > kMaxLoopBatchRate) {
    throw std::runtime_error("loop_batch_rate must be " + std::to_string(kMinLoopBatchRate) +
                             " to " + std::to_string(kMaxLoopBatchRate) + " requests a second");
  }
  if (!config.limit_webhook_url.empty() && !ParseUrl(config.limit_webhook_url)) {
    // Never echo the value: a webhook's URL often carries the receiver's secret.
    throw std::runtime_error(
        "limit_webhook_url must be an http:// or https:// URL with a host, a port 1-65535 if it "
        "names one, and no user info, space or control character");
  }
  if (config.listen.rfind(':') == std::string::npos) {
    throw std::runtime_error("listen must be HOST:PORT, not \"" + config.listen + "\"");
  }
}

ListenAddress ParseListenAddress(const std::string& listen) {
  const auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
  char* end = nullptr;
  const long value = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || value < 0 || value > 65535) {
    throw std::runtime_error("invalid port in listen address " + listen);
  }
  return ListenAddress{host.empty() ? "127.0.0.1" : host, static_cast<std::uint16_t>(value)};
}

}  // namespace gatehouse
