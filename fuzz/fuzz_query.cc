// Query strings: the parser and its readers directly, then every route that reads a query,
// through the route table (the first byte picks the route, the rest is the raw query).
#include <array>
#include <cstddef>
#include <cstdint>

#include "api/request_input.h"
#include "api_fixture.h"

using gatehouse::fuzz::ApiFixture;
using gatehouse::fuzz::MakeRequest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view query(reinterpret_cast<const char*>(data) + 1, size - 1);
  const gatehouse::QueryParams params(query);
  (void)params.Get("name");
  (void)params.Integer("count", 0, 0, INT64_MAX);
  (void)params.Choice("orderKey", {"name", "description", "status"}, 0);
  (void)gatehouse::ReadPage(params);
  const bool clean = gatehouse::CheckQueryText(query).has_value();
  // What CheckQueryText lets through is free of NUL bytes once decoded.
  if (clean && params.Get("name").value_or("").find('\0') != std::string::npos) __builtin_trap();

  ApiFixture& api = ApiFixture::Get();
  const std::array<std::pair<const char*, bool>, 7> targets = {{
      {"/v2/tokens", false},
      {"/v1/organization/projects", false},
      {"/v1/organization/request/export", false},
      {"/v1/organization/assistants", false},
      {"/v2/audit", false},
      {"/v2/organization/tokens", false},
      {"/v2/admin/organizations", true},
  }};
  const auto& [path, admin] = targets[data[0] % targets.size()];
  auto request = MakeRequest("GET", path, admin ? api.admin_secret : api.org_secret);
  request.query = std::string(query);
  api.Call(request);
  return 0;
}
