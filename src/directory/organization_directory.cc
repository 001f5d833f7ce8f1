#include "directory/organization_directory.h"

#include "core/ids.h"

namespace gatehouse {

OrganizationDirectory::OrganizationDirectory(Store& store, TokenDirectory& tokens,
                                             const Clock& clock)
    : store_(store), tokens_(tokens), clock_(clock) {}

Result<CreatedOrganization> OrganizationDirectory::Create(const std::string& name,
                                                          const std::string& admin_email) {
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
  if (auto stored =
          store_.CreateOrganization(created.organization, created.token.token, credential);
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

Status OrganizationDirectory::Delete(const std::string& organization_id) {
  auto found = store_.FindOrganization(organization_id);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kOrganizationNotFound);
  if (auto deleted = store_.DeleteOrganization(organization_id, clock_.Now()); !deleted)
    return deleted;
  return tokens_.SyncCache();
}

}  // namespace gatehouse
