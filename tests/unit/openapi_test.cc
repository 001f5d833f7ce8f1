#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/routes.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {

// Every route the server registers is described in the OpenAPI document it serves.
TEST(OpenApi, DescribesEveryRegisteredRoute) {
  std::ifstream file(GATEHOUSE_OPENAPI_FILE);
  ASSERT_TRUE(file) << GATEHOUSE_OPENAPI_FILE;
  std::stringstream text;
  text << file.rdbuf();
  const auto document = boost::json::parse(text.str()).as_object();
  const auto& paths = document.at("paths").as_object();

  const auto dir =
      std::filesystem::temp_directory_path() / ("gatehouse-openapi-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  SqliteStore store((dir / "gatehouse.db").string());
  Keyring keyring(Keyring::Key{});
  TokenCache cache;
  TokenDirectory tokens(store, keyring, cache, true);
  ProjectDirectory projects(store, tokens);
  OrganizationDirectory organizations(store, tokens);
  AssistantDirectory assistants(store);
  Authenticator authenticator(keyring, cache, "");
  ConsoleSessions sessions(1000);
  const ProviderRegistry providers({});
  RequestLog request_log(store);
  Metrics metrics;
  struct NoUpstream final : UpstreamClient {
    std::shared_ptr<UpstreamExchange> Open() override { return nullptr; }
  } upstream;
  Gateway gateway(upstream, request_log);
  ApiServices services{store,    cache,      authenticator, tokens,  projects,    organizations,
                       sessions, assistants, providers,     gateway, request_log, metrics};
  Router router;
  AddApiRoutes(router, services);

  const auto routes = router.Describe();
  ASSERT_GT(routes.size(), 30u);
  for (const auto& route : routes) {
    const auto space = route.find(' ');
    std::string method = route.substr(0, space);
    for (auto& c : method) c = static_cast<char>(std::tolower(c));
    const std::string path = route.substr(space + 1);
    const auto* item = paths.if_contains(path);
    EXPECT_TRUE(item && item->as_object().contains(method)) << route << " is not described";
  }
  request_log.Stop();
  std::filesystem::remove_all(dir);
}

}  // namespace gatehouse
