#include <boost/json/array.hpp>

#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::size_t kMaxLeakSourceLength = 1000;
constexpr std::size_t kMaxLeakUrlLength = 2000;
constexpr std::size_t kMaxReportedSecretLength = 1000;

// Reads {"secrets": [...], "source", "url"}: secrets required (1..100 strings, each at most
// 1000 bytes), source and url optional text.
Result<LeakReport> ReadReport(const boost::json::object& body) {
  BodyReader reader(body);
  LeakReport report;
  report.source = reader.Text("source", kMaxLeakSourceLength, false).value_or("");
  report.url = reader.Text("url", kMaxLeakUrlLength, false).value_or("");
  auto secrets = reader.StringList(
      "secrets", [](std::vector<std::string> secrets) -> Result<std::vector<std::string>> {
        if (secrets.empty()) return Fail(ErrorCode::kRequired, "secrets");
        if (secrets.size() > kMaxLeakedSecretsPerReport) {
          return Fail(ErrorCode::kOutOfRange, "secrets");
        }
        for (const auto& secret : secrets) {
          if (secret.size() > kMaxReportedSecretLength) {
            return Fail(ErrorCode::kOutOfRange, "secrets");
          }
        }
        return secrets;
      });
  if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
  if (!secrets || !*secrets) return Fail(ErrorCode::kRequired, "secrets");
  report.secrets = std::move(**secrets);
  return report;
}

// POST /v2/tokens/leaked (API.md §3): no credentials; possessing a secret is the proof.
Result<boost::json::value> ReportLeaked(ApiServices& services, const ApiCall& call) {
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  auto report = ReadReport(*body);
  if (!report) return std::unexpected(report.error());
  report->remote_address = call.request.remote_address;
  auto outcomes = services.leaked_secrets.Report(*report);
  if (!outcomes) return std::unexpected(outcomes.error());
  boost::json::array results;
  results.reserve(outcomes->size());
  for (const auto& outcome : *outcomes) {
    results.push_back(boost::json::object{{"secretPrefix", outcome.secret_prefix},
                                          {"status", outcome.revoked ? "revoked" : "unknown"}});
  }
  return boost::json::object{{"results", std::move(results)}};
}

}  // namespace

void AddLeakReportRoutes(RouteTable& routes) {
  routes.AddJson("POST", "/v2/tokens/leaked", Access::kPublic, ReportLeaked);
}

}  // namespace gatehouse
