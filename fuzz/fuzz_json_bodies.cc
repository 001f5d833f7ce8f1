// Every route that reads a JSON body, through the route table: the first byte picks the route,
// the rest is the body. No input may produce a 5xx or an answer that is not JSON.
#include <array>
#include <cstddef>
#include <cstdint>

#include "api_fixture.h"

using gatehouse::fuzz::ApiFixture;
using gatehouse::fuzz::MakeRequest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  ApiFixture& api = ApiFixture::Get();
  enum class Caller { kOrganization, kProject, kAdmin, kNobody };
  struct Target {
    const char* method;
    std::string path;
    Caller caller;
  };
  const std::array<Target, 13> targets = {{
      {"POST", "/v1/organization/project", Caller::kOrganization},
      {"PUT", "/v1/organization/project/" + api.project_id, Caller::kOrganization},
      {"POST", "/v2/projects/tokens", Caller::kOrganization},
      {"PUT", "/v2/projects/tokens/" + api.victim_project_token_id, Caller::kOrganization},
      {"POST", "/v2/organization/tokens", Caller::kOrganization},
      {"PUT", "/v2/organization/tokens/" + api.victim_org_token_id, Caller::kOrganization},
      {"POST", "/v2/tokens/" + api.victim_project_token_id + "/rotate", Caller::kOrganization},
      {"POST", "/v2/tokens/" + api.victim_org_token_id + "/reveal", Caller::kOrganization},
      {"POST", "/v2/admin/organizations", Caller::kAdmin},
      {"POST", "/v1/assistant", Caller::kProject},
      {"PUT", "/v1/assistant/bot", Caller::kProject},  // created by a seed
      {"POST", "/v1/chat/completions", Caller::kProject},
      {"POST", "/v2/console/session", Caller::kNobody},
  }};
  const Target& target = targets[data[0] % targets.size()];
  const std::string* secret = nullptr;
  switch (target.caller) {
    case Caller::kOrganization:
      secret = &api.org_secret;
      break;
    case Caller::kProject:
      secret = &api.project_secret;
      break;
    case Caller::kAdmin:
      secret = &api.admin_secret;
      break;
    case Caller::kNobody:
      break;
  }
  auto request = MakeRequest(target.method, target.path, secret ? *secret : std::string());
  request.headers.emplace_back("Content-Type", "application/json");
  request.headers.emplace_back("project-id", api.project_id);
  request.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  api.Call(request);
  return 0;
}
