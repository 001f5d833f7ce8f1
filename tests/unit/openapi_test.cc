#include "api/openapi.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "app/instance.h"
#include "app/server_graph.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The serving graph over a fresh data directory, as `serve` builds it.
class OpenApiTest : public ::testing::Test {
 protected:
  OpenApiTest()
      : config_(ConfigIn(dir_.path())),
        clock_(1'700'000'000'000),
        instance_(config_, clock_),
        graph_(instance_, config_,
               std::filesystem::path(GATEHOUSE_OPENAPI_FILE).parent_path().string()) {}
  ~OpenApiTest() override { graph_.request_log().Stop(); }

  static ServerConfig ConfigIn(const std::filesystem::path& dir) {
    ServerConfig config;
    config.data_dir = dir.string();
    return config;
  }

  boost::json::object Document() const {
    return boost::json::parse(
               BuildOpenApi(graph_.routes().routes(), ReadFile(GATEHOUSE_OPENAPI_FILE)))
        .as_object();
  }

  TempDir dir_;
  ServerConfig config_;
  ManualClock clock_;
  Instance instance_;
  ServerGraph graph_;
};

}  // namespace

// Every route the server registers is described in the OpenAPI document it serves, with the
// hand-written description where there is one.
TEST_F(OpenApiTest, DescribesEveryRegisteredRoute) {
  const auto document = Document();
  const auto described = boost::json::parse(ReadFile(GATEHOUSE_OPENAPI_FILE)).as_object();
  const auto& paths = document.at("paths").as_object();
  const auto& routes = graph_.routes().routes();
  ASSERT_GT(routes.size(), 30u);
  for (const auto& route : routes) {
    std::string method = route.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(c));
    const auto* item = paths.if_contains(route.pattern);
    ASSERT_TRUE(item && item->as_object().contains(method)) << route.pattern << " is missing";
    const auto* written = described.at("paths").as_object().if_contains(route.pattern);
    EXPECT_TRUE(written && written->as_object().contains(method))
        << route.method << " " << route.pattern << " has no hand-written description";
  }
}

// The document's security per operation follows the route table's access rules.
TEST_F(OpenApiTest, SecurityOfEachOperationFollowsItsAccessRule) {
  const auto document = Document();
  const auto& paths = document.at("paths").as_object();
  auto schemes_of = [&paths](const std::string& path, const char* method) {
    std::set<std::string> schemes;
    for (const auto& requirement :
         paths.at(path).as_object().at(method).as_object().at("security").as_array()) {
      for (const auto& entry : requirement.as_object()) schemes.insert(std::string(entry.key()));
    }
    return schemes;
  };
  EXPECT_EQ(schemes_of("/healthz", "get"), std::set<std::string>{});
  EXPECT_EQ(schemes_of("/v2/admin/organizations", "post"), std::set<std::string>{"admin"});
  EXPECT_EQ(schemes_of("/v2/tokens", "get"),
            (std::set<std::string>{"bearer", "basic", "consoleSession"}));
  EXPECT_EQ(schemes_of("/v1/chat/completions", "post"), (std::set<std::string>{"bearer", "basic"}));
  EXPECT_EQ(schemes_of("/v2/console/session", "get"), std::set<std::string>{"consoleSession"});
  EXPECT_EQ(schemes_of("/metrics", "get"), std::set<std::string>{"bearer"});
  EXPECT_EQ(paths.at("/v2/tokens").as_object().at("get").as_object().at("x-gatehouse-access"),
            "organization");
}

// A route the descriptions do not know still appears; what they describe beyond the table does
// not.
TEST(BuildOpenApi, TheRouteTableDecidesWhichOperationsExist) {
  const std::vector<RouteSpec> routes = {
      {"GET", "/v1/models", Access::kProject, SessionUse::kAllowed}};
  const auto document =
      boost::json::parse(
          BuildOpenApi(routes, R"({"openapi":"3.0.3","paths":{"/gone":{"get":{}}}})"))
          .as_object();
  const auto& paths = document.at("paths").as_object();
  EXPECT_FALSE(paths.contains("/gone"));
  ASSERT_TRUE(paths.contains("/v1/models"));
  EXPECT_EQ(paths.at("/v1/models").as_object().at("get").as_object().at("x-gatehouse-access"),
            "project");
}

}  // namespace gatehouse
