#include "config/config.h"

#include <gtest/gtest.h>

#include "gateway/providers.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

// Loads `text` as a gatehouse.toml file into `config`.
void LoadConfigText(const std::string& text, ServerConfig& config) {
  const TempDir dir;
  LoadConfigFile(dir.WriteFile("gatehouse.toml", text).string(), config);
}

std::string LoadError(const std::string& text) {
  ServerConfig config;
  try {
    LoadConfigText(text, config);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(Config, ReadsServerKeysAndProviders) {
  ServerConfig config;
  LoadConfigText(R"(
[server]
listen = "127.0.0.1:9000"
max_body = 2048
reveal = "never"
log_content = false

[[providers]]
name = "openai"
base_url = "http://127.0.0.1:1/v1"
api_key_env = "KEY"
timeout_ms = 45000
first_byte_timeout_ms = 7000
read_timeout_ms = 3000
max_concurrent = 40
max_concurrent_per_token = 4

[[providers.models]]
name = "gpt-4o-mini"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 1
)",
                 config);
  EXPECT_EQ(config.listen, "127.0.0.1:9000");
  EXPECT_EQ(config.max_body, 2048);
  EXPECT_EQ(config.reveal, "never");
  EXPECT_FALSE(config.log_content);
  ASSERT_EQ(config.providers.size(), 1u);
  const ProviderConfig& provider = config.providers[0];
  EXPECT_EQ(provider.api_key_env, "KEY");
  EXPECT_EQ(provider.timeout_ms, 45000);
  EXPECT_EQ(provider.first_byte_timeout_ms, 7000);
  EXPECT_EQ(provider.read_timeout_ms, 3000);
  EXPECT_EQ(provider.max_concurrent, 40);
  EXPECT_EQ(provider.max_concurrent_per_token, 4);
  ASSERT_EQ(config.providers[0].models.size(), 1u);
  EXPECT_DOUBLE_EQ(config.providers[0].models[0].output_usd_per_mtok, 1.0);
}

// A model listed without a price key is unpriced (API.md §8: cost fields only "when prices are
// configured"), unlike one priced at zero, which is free.
TEST(Config, AModelListedWithoutPricesIsUnpricedAndOnePricedAtZeroIsFree) {
  ServerConfig config;
  LoadConfigText(R"(
[[providers]]
name = "p"
base_url = "http://127.0.0.1:1/v1"

[[providers.models]]
name = "listed"

[[providers.models]]
name = "free"
input_usd_per_mtok = 0
)",
                 config);
  const ProviderRegistry providers(config.providers);
  const auto listed = providers.Resolve("p/listed");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->price, nullptr);
  EXPECT_EQ(listed->model, "listed");
  const auto free = providers.Resolve("p/free");
  ASSERT_TRUE(free);
  ASSERT_NE(free->price, nullptr);
  EXPECT_DOUBLE_EQ(free->price->output_usd_per_mtok, 0.0);
  EXPECT_FALSE(providers.Resolve("p/other")) << "a provider that lists models runs only those";
}

TEST(Config, ProviderTimeoutsAndCapsOutsideTheirBoundsStopStartUp) {
  const auto provider_with = [](const std::string& line) {
    return "[[providers]]\nname = \"p\"\nbase_url = \"http://127.0.0.1:1/v1\"\n" + line + "\n";
  };
  const std::string message = LoadError(provider_with("timeout_ms = 0"));
  EXPECT_NE(message.find(":4: key 'providers.timeout_ms': must be between 1 and 86400000"),
            std::string::npos)
      << message;
  for (const char* line : {"timeout_ms = -5", "timeout_ms = 86400001", "first_byte_timeout_ms = -1",
                           "read_timeout_ms = 100000000", "max_concurrent = -1",
                           "max_concurrent_per_token = 1000001"}) {
    EXPECT_NE(LoadError(provider_with(line)).find("must be between"), std::string::npos) << line;
  }
  ServerConfig config;
  LoadConfigText(provider_with("first_byte_timeout_ms = 0\nmax_concurrent = 0"), config);
  EXPECT_EQ(config.providers[0].first_byte_timeout_ms, 0) << "0 means the default";
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  const std::string message = LoadError("[server]\nlisten = \"x:1\"\nlisten_port = 8080\n");
  EXPECT_NE(message.find(".toml:3"), std::string::npos) << message;
  EXPECT_NE(message.find("server.listen_port"), std::string::npos) << message;
}

TEST(Config, WrongTypeAndProviderWithoutBaseUrlStopStartUp) {
  EXPECT_NE(LoadError("[server]\nmax_body = \"big\"\n").find("server.max_body"), std::string::npos);
  EXPECT_NE(LoadError("[[providers]]\nname = \"x\"\n").find("providers.base_url"),
            std::string::npos);
}

TEST(Config, EnvironmentOverridesServerKeys) {
  ServerConfig config;
  ::setenv("GATEHOUSE_LISTEN", "127.0.0.1:7777", 1);
  ::setenv("GATEHOUSE_LOG_CONTENT", "false", 1);
  ApplyEnvironment(config);
  ::unsetenv("GATEHOUSE_LISTEN");
  ::unsetenv("GATEHOUSE_LOG_CONTENT");
  EXPECT_EQ(config.listen, "127.0.0.1:7777");
  EXPECT_FALSE(config.log_content);
}

TEST(Config, MetricsTokenComesFromTheFileOrTheEnvironment) {
  ServerConfig config;
  EXPECT_TRUE(config.metrics_token.empty());
  LoadConfigText("[server]\nmetrics_token = \"from-file\"\n", config);
  EXPECT_EQ(config.metrics_token, "from-file");
  ::setenv("GATEHOUSE_METRICS_TOKEN", "from-env", 1);
  ApplyEnvironment(config);
  ::unsetenv("GATEHOUSE_METRICS_TOKEN");
  EXPECT_EQ(config.metrics_token, "from-env");
}

TEST(Config, RejectsUnknownRevealMode) {
  ServerConfig config;
  config.reveal = "always";
  EXPECT_THROW(ValidateConfig(config), std::runtime_error);
}

std::string ValidationError(const ServerConfig& config) {
  try {
    ValidateConfig(config);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

TEST(Config, TlsCertAndKeyComeFromTheFileAndMustBeGivenTogether) {
  ServerConfig config;
  LoadConfigText("[server]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n", config);
  EXPECT_EQ(config.tls_cert, "c.pem");
  EXPECT_EQ(config.tls_key, "k.pem");
  EXPECT_EQ(ValidationError(config), "");
  ServerConfig cert_only;
  cert_only.tls_cert = "c.pem";
  EXPECT_NE(ValidationError(cert_only).find("tls_key is missing"), std::string::npos);
  ServerConfig key_only;
  key_only.tls_key = "k.pem";
  EXPECT_NE(ValidationError(key_only).find("tls_cert is missing"), std::string::npos);
}

TEST(Config, ExportBoundsAndWriteTimeoutHaveDefaultsAndMustBePositive) {
  ServerConfig config;
  EXPECT_EQ(config.max_exports_per_token, 4);
  EXPECT_EQ(config.max_exports_per_organization, 8);
  EXPECT_EQ(config.write_timeout_ms, 30000);
  LoadConfigText(
      "[server]\nmax_exports_per_token = 1\nmax_exports_per_organization = 2\n"
      "write_timeout_ms = 500\n",
      config);
  EXPECT_EQ(config.max_exports_per_token, 1);
  EXPECT_EQ(config.max_exports_per_organization, 2);
  EXPECT_EQ(config.write_timeout_ms, 500);
  config.max_exports_per_token = 0;
  EXPECT_THROW(ValidateConfig(config), std::runtime_error);
  config.max_exports_per_token = 1;
  config.write_timeout_ms = 0;
  EXPECT_THROW(ValidateConfig(config), std::runtime_error);
  config.write_timeout_ms = 9'999'999'999'999;  // "never" would wrap the clock: every write cut
  EXPECT_THROW(ValidateConfig(config), std::runtime_error);
  config.write_timeout_ms = 24LL * 60 * 60 * 1000;
  EXPECT_NO_THROW(ValidateConfig(config));
}

TEST(Config, ProvidersThatNoCallCouldUseStopStartUp) {
  const std::string model = "[[providers.models]]\nname = \"m\"\n";
  auto provider = [](const std::string& name, const std::string& url) {
    return "[[providers]]\nname = \"" + name + "\"\nbase_url = \"" + url + "\"\n";
  };
  // Without a scheme every call would be a 502.
  EXPECT_NE(LoadError(provider("p", "api.example.com/v1")).find("providers.base_url"),
            std::string::npos);
  // Calls name a provider without case: the second of two would never be reached.
  EXPECT_NE(LoadError(provider("openai", "http://a/v1") + provider("OpenAI", "http://b/v1"))
                .find("providers.name"),
            std::string::npos);
  EXPECT_NE(LoadError(provider("p", "http://a/v1") + model + model).find("providers.models.name"),
            std::string::npos);
  // A negative or undefined price would lower metered spend.
  for (const std::string price : {"-1.0", "nan", "inf"}) {
    const std::string text =
        provider("p", "http://a/v1") + model + "input_usd_per_mtok = " + price + "\n";
    EXPECT_NE(LoadError(text).find("input_usd_per_mtok"), std::string::npos) << price;
  }
  EXPECT_EQ(LoadError(provider("p", "https://a/v1") + provider("q", "http://b/v1") + model +
                      "output_usd_per_mtok = 0\n"),
            "");
  // "<provider>/<model>" is split at the first slash: "open/ai/m" is provider "open".
  EXPECT_NE(LoadError(provider("open/ai", "http://a/v1")).find("providers.name"),
            std::string::npos);
}

// Every token that lists providers sees their base URLs.
TEST(Config, ABaseUrlWithCredentialsStopsStartUp) {
  const std::string message =
      LoadError("[[providers]]\nname = \"p\"\nbase_url = \"https://user:s3cret@a.example/v1\"\n");
  EXPECT_NE(message.find("providers.base_url"), std::string::npos) << message;
  EXPECT_EQ(message.find("s3cret"), std::string::npos) << "the error repeats the credential";
  EXPECT_EQ(LoadError("[[providers]]\nname = \"p\"\nbase_url = \"https://a.example/v1/@x\"\n"), "")
      << "an @ in the path is no credential";
}

// A base URL the upstream client cannot call would otherwise pass start-up and fail each call.
TEST(Config, ABaseUrlTheGatewayCannotCallStopsStartUp) {
  auto error = [](const std::string& url) {
    return LoadError("[[providers]]\nname = \"p\"\nbase_url = \"" + url + "\"\n");
  };
  for (const std::string url :
       {"http://a.example:0/v1", "http://a.example:99999/v1", "http://a.example:https/v1",
        "http:///v1", "http://[::1/v1", "http://a.example/v 1"}) {
    EXPECT_NE(error(url).find("is not a URL the gateway can call"), std::string::npos) << url;
  }
  // The path is appended to it: "/v1?version=2" would become "/v1?version=2/chat/completions".
  for (const std::string url : {"https://a.example/v1?version=2", "https://a.example/v1#x"}) {
    EXPECT_NE(error(url).find("must not carry a query or fragment"), std::string::npos) << url;
  }
  for (const std::string url : {"http://a.example:8080/v1/", "https://[::1]:8443", "http://a"}) {
    EXPECT_EQ(error(url), "") << url;
  }
}

TEST(Config, ALimitWebhookUrlThatCannotBeCalledStopsStartUpWithoutBeingEchoed) {
  ServerConfig config;
  for (const std::string url :
       {"hooks.example/x?key=s3cret", "https://hooks.example:0/x?key=s3cret",
        "https://user:s3cret@hooks.example/x"}) {
    config.limit_webhook_url = url;
    const std::string message = ValidationError(config);
    EXPECT_NE(message.find("limit_webhook_url"), std::string::npos) << url;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
  }
  config.limit_webhook_url = "https://hooks.example/x?key=s3cret";
  EXPECT_EQ(ValidationError(config), "");
  config.limit_webhook_url = "";
  EXPECT_EQ(ValidationError(config), "");
}

TEST(Config, TrustedProxiesAreReadAsCidrBlocks) {
  ServerConfig config;
  LoadConfigText("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n", config);
  EXPECT_EQ(config.trusted_proxies, (std::vector<std::string>{"10.0.0.0/8", "::1"}));
}

TEST(Config, TrustedProxyThatIsNoCidrBlockNamesFileLineAndKey) {
  const std::string message =
      LoadError("[server]\nlisten = \"x:1\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
  EXPECT_NE(message.find(".toml:3"), std::string::npos) << message;
  EXPECT_NE(message.find("server.trusted_proxies"), std::string::npos) << message;
  EXPECT_NE(LoadError("[server]\ntrusted_proxies = \"10.0.0.0/8\"\n"), "");
}

TEST(Config, TrustedProxiesFromTheEnvironmentReplaceTheFile) {
  ServerConfig config;
  config.trusted_proxies = {"10.0.0.0/8"};
  ::setenv("GATEHOUSE_TRUSTED_PROXIES", "192.0.2.1/32, ::1", 1);
  ApplyEnvironment(config);
  ::setenv("GATEHOUSE_TRUSTED_PROXIES", "not-a-block", 1);
  ServerConfig rejected;
  EXPECT_THROW(ApplyEnvironment(rejected), std::runtime_error);
  ::unsetenv("GATEHOUSE_TRUSTED_PROXIES");
  EXPECT_EQ(config.trusted_proxies, (std::vector<std::string>{"192.0.2.1/32", "::1"}));
}

TEST(Config, LoopSchedulingIsAdaptiveUnlessTheFileOrTheEnvironmentSaysNormalOrBatch) {
  ServerConfig config;
  EXPECT_EQ(config.loop_scheduling, "adaptive");
  LoadConfigText("[server]\nloop_scheduling = \"batch\"\n", config);
  EXPECT_EQ(config.loop_scheduling, "batch");
  EXPECT_EQ(ValidationError(config), "");
  ::setenv("GATEHOUSE_LOOP_SCHEDULING", "normal", 1);
  ApplyEnvironment(config);
  ::unsetenv("GATEHOUSE_LOOP_SCHEDULING");
  EXPECT_EQ(config.loop_scheduling, "normal");
  config.loop_scheduling = "realtime";
  EXPECT_EQ(ValidationError(config),
            "loop_scheduling must be \"adaptive\", \"normal\" or \"batch\", not \"realtime\"");
  config.loop_scheduling = "adaptive";
  EXPECT_EQ(ValidationError(config), "");
}

TEST(Config, LoopBatchRateIsAPositiveRateFromTheFileOrTheEnvironment) {
  ServerConfig config;
  EXPECT_EQ(config.loop_batch_rate, 20000);
  LoadConfigText("[server]\nloop_batch_rate = 8000\n", config);
  EXPECT_EQ(config.loop_batch_rate, 8000);
  ::setenv("GATEHOUSE_LOOP_BATCH_RATE", "3000", 1);
  ApplyEnvironment(config);
  ::unsetenv("GATEHOUSE_LOOP_BATCH_RATE");
  EXPECT_EQ(config.loop_batch_rate, 3000);
  EXPECT_EQ(ValidationError(config), "");
  EXPECT_THROW(LoadConfigText("[server]\nloop_batch_rate = 99\n", config), std::runtime_error);
  config.loop_batch_rate = 99;
  EXPECT_EQ(ValidationError(config), "loop_batch_rate must be 100 to 100000000 requests a second");
}

}  // namespace gatehouse
