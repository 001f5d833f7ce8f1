#include "directory/leaked_secrets.h"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "auth/secret.h"

namespace gatehouse {
namespace {

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

std::string NoticeBody(const ApiToken& token, const LeakReport& report, TimeMs at) {
  boost::json::object body{
      {"event", "token.leaked"},
      {"timestamp", FormatTimestamp(at)},
      {"organizationId", token.organization_id},
      {"projectId", token.project_id.empty() ? boost::json::value(nullptr)
                                             : boost::json::value(token.project_id)},
      {"apiTokenId", token.id},
      {"apiTokenName", token.name},
      {"scope", ToString(token.scope)},
      {"secretPrefix", token.secret_prefix},
      {"source", report.source},
      {"url", report.url},
  };
  return boost::json::serialize(body);
}

}  // namespace

std::string ReportedPrefixOf(std::string_view reported) {
  if (reported.size() < kSecretPrefixLength) return {};
  const std::string_view head = reported.substr(0, kSecretPrefixLength);
  if (!head.starts_with("gto_") && !head.starts_with("gtp_") && !head.starts_with("gts_")) {
    return {};
  }
  if (!std::all_of(head.begin() + 4, head.end(), IsBase62)) return {};
  return std::string(head);
}

LeakedSecrets::LeakedSecrets(const Keyring& keyring, const TokenCache& cache,
                             TokenDirectory& tokens, const Clock& clock, Notify notify)
    : keyring_(keyring),
      cache_(cache),
      tokens_(tokens),
      clock_(clock),
      notify_(std::move(notify)) {}

Result<std::vector<LeakOutcome>> LeakedSecrets::Report(const LeakReport& report) {
  const TimeMs now = clock_.Now();
  if (const TimeMs blocked = throttle_.BlockedFor(report.remote_address, now)) {
    Error throttled(ErrorCode::kRateLimited, {}, "leak reports from " + report.remote_address);
    throttled.retry_after_seconds = static_cast<int>((blocked + 999) / 1000);
    return std::unexpected(std::move(throttled));
  }
  throttle_.RecordFailure(report.remote_address, now);

  AuditActor actor = AuditActor::System();
  actor.remote_address = report.remote_address;
  std::vector<LeakOutcome> outcomes;
  outcomes.reserve(report.secrets.size());
  for (const auto& secret : report.secrets) {
    LeakOutcome& outcome = outcomes.emplace_back();
    outcome.secret_prefix = ReportedPrefixOf(secret);
    // The same work for every string: a malformed one is hashed and probed too (it cannot
    // match: the cache holds hashes of well-formed secrets only).
    auto token = cache_.FindByHash(keyring_.Hash(secret), now);
    if (!token) continue;
    auto revoked = tokens_.RevokeLeaked(token->organization_id(), std::string(token->id()),
                                        report.source, report.url, actor);
    if (!revoked) {
      if (revoked.error().code() == ErrorCode::kApiTokenNotFound) continue;  // revoked meanwhile
      return std::unexpected(revoked.error());
    }
    outcome.revoked = true;
    if (notify_) notify_(revoked->organization_id, NoticeBody(*revoked, report, now));
  }
  return outcomes;
}

}  // namespace gatehouse
