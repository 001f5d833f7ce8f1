// Placeholders until this part lands on PostgreSQL.
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "store/postgres/pg_rows.h"
#include "store/postgres/pg_store.h"

namespace gatehouse {

namespace {

std::unexpected<Error> NotYet(const char* what) {
  return Fail(ErrorCode::kInternal, {}, std::string(what) + " is not on PostgreSQL yet");
}

}  // namespace

Status PgStore::AppendAudit(const AuditEntry& entry) {
  auto c = Lease();
  if (!c) return std::unexpected(c.error());
  return AppendAuditIn(**c, entry);
}

Result<AuditPage> PgStore::ListAudit(const AuditQuery& query) { return NotYet("ListAudit"); }

Status PgStore::InsertUsageLimit(const UsageLimit& limit, const AuditEntry* audit) {
  return NotYet("InsertUsageLimit");
}

Status PgStore::CreateProjectWithLimit(const Project& project, const ApiToken& token,
                                       const TokenCredential& credential, const UsageLimit* limit,
                                       const std::vector<AuditEntry>& audit) {
  return NotYet("CreateProjectWithLimit");
}

Status PgStore::UpdateUsageLimit(const UsageLimit& limit, const AuditEntry* audit) {
  return NotYet("UpdateUsageLimit");
}

Result<std::optional<UsageLimit>> PgStore::FindUsageLimit(const std::string& organization_id,
                                                          const std::string& limit_id) {
  return NotYet("FindUsageLimit");
}

Result<std::vector<UsageLimit>> PgStore::ListUsageLimits(const std::string& organization_id,
                                                         const std::string& project_id) {
  return NotYet("ListUsageLimits");
}

Result<std::vector<UsageLimit>> PgStore::ListCurrentUsageLimits() {
  return NotYet("ListCurrentUsageLimits");
}

Status PgStore::SaveUsageCounters(const std::vector<UsageLimit>& limits,
                                  const std::vector<AuditEntry>& audit) {
  return NotYet("SaveUsageCounters");
}

Result<std::string> PgStore::GetOrganizationWebhook(const std::string& organization_id) {
  return NotYet("GetOrganizationWebhook");
}

Status PgStore::SetOrganizationWebhook(const std::string& organization_id, const std::string& url,
                                       const AuditEntry* audit) {
  return NotYet("SetOrganizationWebhook");
}

Status PgStore::CreateAssistant(const Assistant& assistant, const AuditEntry* audit) {
  return NotYet("CreateAssistant");
}

Result<std::optional<Assistant>> PgStore::FindAssistant(const std::string& project_id,
                                                        const std::string& id_or_name) {
  return NotYet("FindAssistant");
}

Result<std::vector<Assistant>> PgStore::ListAssistants(const std::string& project_id) {
  return NotYet("ListAssistants");
}

Result<std::vector<Assistant>> PgStore::ListAllAssistants() { return NotYet("ListAllAssistants"); }

Result<std::vector<AssistantRevision>> PgStore::ListAssistantRevisions(
    const std::string& assistant_id) {
  return NotYet("ListAssistantRevisions");
}

Status PgStore::UpdateAssistant(const Assistant& assistant, bool new_revision,
                                const AuditEntry* audit) {
  return NotYet("UpdateAssistant");
}

Status PgStore::DeleteAssistant(const std::string& project_id, const std::string& assistant_id,
                                TimeMs now, const AuditEntry* audit) {
  return NotYet("DeleteAssistant");
}

Status PgStore::AppendAuditIn(pg::Connection& c, const AuditEntry& entry) {
  return c.Run(
      "INSERT INTO audit_log(at, organization_id, actor_token_id, action, target_id, actor_name, "
      "remote_address, target_name, target_type, details) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      pg::Params()
          .Int(entry.at)
          .Text(entry.organization_id)
          .Text(entry.actor_token_id)
          .Text(entry.action)
          .Text(entry.target_id)
          .Text(entry.actor_name)
          .Text(entry.remote_address)
          .Text(entry.target_name)
          .Text(entry.target_type)
          .Text(entry.details));
}

Status PgStore::InsertUsageLimitIn(pg::Connection&, const UsageLimit&) {
  return NotYet("InsertUsageLimitIn");
}

Status PgStore::WriteUsageLimitIn(pg::Connection&, const UsageLimit&) {
  return NotYet("WriteUsageLimitIn");
}

Status PgStore::InsertRevisionIn(pg::Connection&, const Assistant&) {
  return NotYet("InsertRevisionIn");
}

}  // namespace gatehouse
