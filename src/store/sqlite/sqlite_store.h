#ifndef GATEHOUSE_STORE_SQLITE_SQLITE_STORE_H_
#define GATEHOUSE_STORE_SQLITE_SQLITE_STORE_H_

#include <mutex>
#include <string>

#include "store/sqlite/database.h"
#include "store/store.h"

namespace gatehouse {

// The embedded store: one SQLite file in WAL mode behind one connection. Every call holds the
// connection's lock for its transaction, so calls are serialized; readers that must not wait
// behind a writer (authentication) never come here (TokenCache).
class SqliteStore final : public Store {
 public:
  // Opens or creates `path` and applies pending migrations. Throws std::runtime_error
  // (start-up only).
  explicit SqliteStore(const std::string& path);

  // Writes a consistent copy of the live database to `destination` (SQLite online backup).
  Status Backup(const std::string& destination);

  Status Ping() override;
  Result<std::optional<std::string>> GetSetting(const std::string& key) override;
  Status PutSetting(const std::string& key, const std::string& value) override;

  Status CreateOrganization(const Organization& organization, const ApiToken& token,
                            const TokenCredential& credential) override;
  Result<std::optional<Organization>> FindOrganization(const std::string& id) override;
  Result<std::optional<Organization>> FindOrganizationByName(const std::string& name) override;
  Result<OrganizationPage> ListOrganizations(const OrganizationQuery& query) override;
  Status DeleteOrganization(const std::string& id, TimeMs now) override;

  Status CreateProject(const Project& project, const ApiToken& token,
                       const TokenCredential& credential) override;
  Result<std::optional<Project>> FindProject(const std::string& organization_id,
                                             const std::string& project_id) override;
  Result<std::optional<Project>> FindProjectByName(const std::string& organization_id,
                                                   const std::string& name) override;
  Result<std::vector<Project>> ListProjects(const std::string& organization_id,
                                            bool include_hidden) override;
  Status UpdateProject(const Project& project) override;
  Status DeleteProject(const std::string& organization_id, const std::string& project_id,
                       TimeMs now) override;

  Status InsertToken(const ApiToken& token, const TokenCredential& credential) override;
  Result<std::optional<ApiToken>> FindToken(const std::string& organization_id,
                                            const std::string& token_id) override;
  Result<std::optional<TokenCredential>> FindCredential(const std::string& token_id) override;
  Result<TokenChangeResult> ChangeToken(const std::string& organization_id,
                                        const std::string& token_id, const TokenChange& change,
                                        TimeMs now, const TokenChangeCondition& condition) override;
  Status UpdateCredential(const std::string& token_id, const TokenCredential& credential,
                          const std::string& secret_prefix, TimeMs now) override;
  Result<TokenPage> SearchTokens(const TokenQuery& query) override;
  Status DiscardSealedSecrets() override;
  Status RecordLastUsed(const std::vector<std::pair<std::string, TimeMs>>& uses) override;
  Status ForEachTokenChangedSince(
      TimeMs since,
      const std::function<void(const ApiToken&, const TokenCredential&)>& visit) override;

  Status AppendAudit(const AuditEntry& entry) override;
  Result<AuditPage> ListAudit(const std::string& organization_id, std::int64_t offset,
                              std::int64_t limit) override;

  Status CreateAssistant(const Assistant& assistant) override;
  Result<std::optional<Assistant>> FindAssistant(const std::string& project_id,
                                                 const std::string& id_or_name) override;
  Result<std::vector<Assistant>> ListAssistants(const std::string& project_id) override;
  Result<std::vector<AssistantRevision>> ListAssistantRevisions(
      const std::string& assistant_id) override;
  Status UpdateAssistant(const Assistant& assistant, bool new_revision) override;
  Status DeleteAssistant(const std::string& project_id, const std::string& assistant_id,
                         TimeMs now) override;

  Status AppendRequests(const std::vector<RequestRecord>& records) override;
  Result<std::unique_ptr<RequestCursor>> OpenRequestCursor(const RequestQuery& query) override;

 private:
  Status InsertTokenLocked(const ApiToken& token, const TokenCredential& credential);
  Result<std::optional<ApiToken>> FindTokenLocked(const std::string& organization_id,
                                                  const std::string& token_id);
  Result<std::optional<Organization>> FindOrganizationWhere(const std::string& where,
                                                            const std::string& value);
  Status InsertRevisionLocked(const Assistant& assistant);
  Result<std::optional<Project>> FindProjectWhere(const std::string& where,
                                                  const std::string& organization_id,
                                                  const std::string& value);

  const std::string path_;
  std::mutex mutex_;
  sqlite::Database db_;  // guarded by mutex_
};

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_SQLITE_SQLITE_STORE_H_
