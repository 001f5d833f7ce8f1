#ifndef GATEHOUSE_FUZZ_API_FIXTURE_H_
#define GATEHOUSE_FUZZ_API_FIXTURE_H_

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "app/instance.h"
#include "app/server_graph.h"

namespace gatehouse::fuzz {

// The serving graph of `gatehouse serve` over a fresh data directory (removed at exit), with
// an organization, a project and spare tokens that the fuzzed requests may change without
// locking the fuzzer out: the credentials used to call are never a request's target.
class ApiFixture {
 public:
  static ApiFixture& Get() {
    static ApiFixture* fixture = new ApiFixture();  // lives until exit, as the graph must
    return *fixture;
  }

  // Runs one request through the route table as the HTTP server would (deferred work runs
  // inline; asynchronous calls and streamed bodies are not run). Traps on what must never happen
  // whatever the input: a 5xx, or a JSON answer that is not valid JSON.
  void Call(HttpRequest& request) {
    HttpResponse response;
    handler_(request, response);
    if (response.deferred) {
      auto work = std::move(response.deferred);
      response.deferred = nullptr;
      work(response);
    }
    if (verbose_) {
      std::fprintf(stderr, "%s %s?%s -> %d %.200s\n", request.method.c_str(), request.path.c_str(),
                   request.query.c_str(), response.status, response.body.c_str());
    }
    if (response.async || response.body_source) return;  // event-loop work is not run here
    if (response.status >= 500) {
      std::fprintf(stderr, "%s %s?%s -> %d %s\n", request.method.c_str(), request.path.c_str(),
                   request.query.c_str(), response.status, response.body.c_str());
      __builtin_trap();
    }
    if (response.content_type == "application/json") {
      boost::system::error_code ec;
      boost::json::parse(response.body, ec);
      if (ec) __builtin_trap();
    }
  }

  std::string org_secret, project_secret, admin_secret;
  std::string project_id, victim_project_token_id, victim_org_token_id;

 private:
  ApiFixture()
      : dir_(std::filesystem::temp_directory_path() /
             ("gatehouse-fuzz-" + std::to_string(::getpid()))),
        config_(ConfigIn(dir_)),
        clock_(1'700'000'000'000) {
    spdlog::set_level(spdlog::level::off);
    std::filesystem::remove_all(dir_);
    instance_ = std::make_unique<Instance>(config_, clock_);
    const auto created = instance_->Initialize();
    org_secret = created->token.secret;
    std::ifstream admin(config_.AdminTokenFile());
    std::getline(admin, admin_secret);
    const std::string org_id = created->organization.id;
    const auto project = OrThrow(instance_->projects().Create(org_id, ProjectSpec{"fuzz", "", ""}));
    project_id = project.project.id;
    project_secret = project.default_token.secret;
    TokenSpec spare;
    spare.organization_id = org_id;
    spare.scope = TokenScope::kProject;
    spare.project_id = project_id;
    spare.project_name = "fuzz";
    spare.name = "victim";
    victim_project_token_id = OrThrow(instance_->tokens().Create(spare)).token.id;
    spare.scope = TokenScope::kOrganization;
    spare.project_id.clear();
    spare.project_name.clear();
    victim_org_token_id = OrThrow(instance_->tokens().Create(spare)).token.id;
    OrThrow(instance_->tokens().LoadCache());
    graph_ = std::make_unique<ServerGraph>(*instance_, config_, std::string());
    handler_ = graph_->Handler();
    // The request log's writer thread must end before its data directory goes (and before
    // spdlog's registry is destroyed): it rotates its journal there.
    std::atexit([] {
      Get().graph_->request_log().Stop();
      std::filesystem::remove_all(Get().dir_);
    });
  }

  // One provider, so that assistants and chat calls get past model resolution; nothing is
  // ever sent to it (deferred work is not run).
  static ServerConfig ConfigIn(const std::filesystem::path& dir) {
    ServerConfig config;
    config.data_dir = dir.string();
    config.providers.push_back(
        ProviderConfig{"openai", "http://127.0.0.1:9", "", 1000, {{"gpt-4o-mini", 0.15, 0.6}}});
    return config;
  }

  // GATEHOUSE_FUZZ_VERBOSE=1 prints every request and its answer (to see what a corpus reaches).
  const bool verbose_ = std::getenv("GATEHOUSE_FUZZ_VERBOSE") != nullptr;
  std::filesystem::path dir_;
  ServerConfig config_;
  ManualClock clock_;
  std::unique_ptr<Instance> instance_;
  std::unique_ptr<ServerGraph> graph_;
  HttpHandler handler_;
};

// A request as the server hands it to the handler.
inline HttpRequest MakeRequest(std::string method, std::string path, const std::string& secret) {
  HttpRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.remote_address = "127.0.0.1";
  if (!secret.empty()) request.headers.emplace_back("Authorization", "Bearer " + secret);
  return request;
}

}  // namespace gatehouse::fuzz

#endif  // GATEHOUSE_FUZZ_API_FIXTURE_H_
