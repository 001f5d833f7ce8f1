#include "directory/organization_directory.h"

#include "core/audit_details.h"
#include "core/ids.h"
#include "core/url.h"

namespace gatehouse {

OrganizationDirectory::OrganizationDirectory(Store& store, TokenDirectory& tokens,
                                             const Clock& clock)
    : store_(store), tokens_(tokens), clock_(clock) {}

Result<CreatedOrganization> OrganizationDirectory::Create(const std::string& name,
                                                          const std::string& admin_email,
                                                          const AuditActor& actor) {
  const TimeMs now = clock_.Now();
  CreatedOrganization created;
  created.organization = Organization{NewUuid(), name, admin_email, now};
  TokenSpec spec;
  spec.scope = TokenScope::kOrganization;
  spec.organization_id = created.organization.id;
  spec.name = kDefaultOrganizationTokenName;
  spec.description = kDefaultOrganizationTokenDescription;
  TokenCredential credential;
  created.token = tokens_.Mint(spec, now, credential);
  created.token.token.organization_name = name;
  AuditDetails details;
  details.Set("name", name);
  const AuditEntry audit =
      MakeAuditEntry(actor, created.organization.id, "organization.create", "organization",
                     created.organization.id, name, now, details.Json());
  if (auto stored =
          store_.CreateOrganization(created.organization, created.token.token, credential, &audit);
      !stored) {
    return std::unexpected(stored.error());
  }
  tokens_.Publish(created.token.token, credential);
  return created;
}

Result<OrganizationPage> OrganizationDirectory::List(const OrganizationQuery& query) {
  return store_.ListOrganizations(query);
}

Result<Organization> OrganizationDirectory::Resolve(const std::string& id_or_name) {
  auto found = store_.FindOrganization(id_or_name);
  if (found && !*found) found = store_.FindOrganizationByName(id_or_name);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kOrganizationNotFound);
  return std::move(**found);
}

Status OrganizationDirectory::Delete(const std::string& organization_id, const AuditActor& actor) {
  auto found = store_.FindOrganization(organization_id);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kOrganizationNotFound);
  const TimeMs now = clock_.Now();
  const AuditEntry audit = MakeAuditEntry(actor, organization_id, "organization.delete",
                                          "organization", organization_id, (*found)->name, now);
  if (auto deleted = store_.DeleteOrganization(organization_id, now, &audit); !deleted) {
    return deleted;
  }
  return tokens_.SyncCache();
}

Result<std::string> OrganizationDirectory::Webhook(const std::string& organization_id) {
  return store_.GetOrganizationWebhook(organization_id);
}

Status OrganizationDirectory::SetWebhook(const std::string& organization_id, const std::string& url,
                                         const AuditActor& actor) {
  auto found = store_.FindOrganization(organization_id);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kOrganizationNotFound);
  auto before = store_.GetOrganizationWebhook(organization_id);
  if (!before) return std::unexpected(before.error());
  AuditDetails details;
  // Origins only (which may be alike for two URLs): an organization's token reads its audit, and
  // a webhook's path or query often holds the receiver's secret.
  if (*before != url) {
    details.RedactedChange("limitWebhookUrl", UrlOrigin(*before), UrlOrigin(url));
  }
  const AuditEntry audit =
      MakeAuditEntry(actor, organization_id, "organization.update", "organization", organization_id,
                     (*found)->name, clock_.Now(), details.Json());
  return store_.SetOrganizationWebhook(organization_id, url, &audit);
}

}  // namespace gatehouse
