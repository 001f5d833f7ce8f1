#ifndef GATEHOUSE_DIRECTORY_ORGANIZATION_DIRECTORY_H_
#define GATEHOUSE_DIRECTORY_ORGANIZATION_DIRECTORY_H_

#include <string>

#include "directory/token_directory.h"

namespace gatehouse {

struct CreatedOrganization {
  Organization organization;
  IssuedToken token;  // its first organization token, DefaultOrganization
};

inline constexpr std::string_view kDefaultOrganizationName = "Default";
inline constexpr std::string_view kDefaultOrganizationTokenName = "DefaultOrganization";
inline constexpr std::string_view kDefaultOrganizationTokenDescription =
    "Default for Organization ApiToken";
inline constexpr std::string_view kAdminSecretHashSetting = "admin_secret_hash";

// The rules of organizations (API.md §9). Thread-safe; `store` and `tokens` must outlive it.
class OrganizationDirectory {
 public:
  OrganizationDirectory(Store& store, TokenDirectory& tokens, const Clock& clock);

  Result<CreatedOrganization> Create(const std::string& name, const std::string& admin_email,
                                     const AuditActor& actor = AuditActor::System());
  Result<OrganizationPage> List(const OrganizationQuery& query);
  // Resolves an id, else a name.
  Result<Organization> Resolve(const std::string& id_or_name);
  // Hides the organization and revokes every token of it.
  Status Delete(const std::string& organization_id, const AuditActor& actor = AuditActor::System());
  // The organization's own limit webhook URL (empty = none); changing it is audited.
  Result<std::string> Webhook(const std::string& organization_id);
  Status SetWebhook(const std::string& organization_id, const std::string& url,
                    const AuditActor& actor = AuditActor::System());

 private:
  Store& store_;
  TokenDirectory& tokens_;
  const Clock& clock_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_DIRECTORY_ORGANIZATION_DIRECTORY_H_
