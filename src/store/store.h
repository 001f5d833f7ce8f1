#ifndef GATEHOUSE_STORE_STORE_H_
#define GATEHOUSE_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/model.h"

namespace gatehouse {

// Sort keys of the console search. Not stored; each backend maps them to its own columns
// through an explicit table, never through these numbers.
enum class TokenOrderKey { kName, kDescription, kStatus, kProjectName, kTimestamp, kLastUsedAt };

// A partial update of a token; absent fields stay. `expires_at` present with nullopt clears
// the expiry. Status Revoked revokes.
struct TokenChange {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<TokenStatus> status;
  std::optional<std::optional<TimeMs>> expires_at;
};

// What ChangeToken checks atomically with its write (a conditional write), so that a rule
// decided above the store (TokenDirectory) still holds when the write lands. Unset = no check.
struct TokenChangeCondition {
  // The row still has the status and expiry that the caller decided on.
  std::optional<TokenStatus> expected_status;
  std::optional<std::optional<TimeMs>> expected_expires_at;
  // Another organization token of the same organization is usable at this time
  // (TokenUsableAt: Active and unexpired).
  std::optional<TimeMs> other_organization_token_usable_at;
};

// How a conditional ChangeToken ended. `token` is the row after the write when applied.
struct TokenChangeResult {
  enum class Outcome {
    kApplied,
    kStateChanged,                   // expected_status / expected_expires_at did not match
    kNoOtherUsableOrganizationToken  // other_organization_token_usable_at did not hold
  };
  Outcome outcome = Outcome::kApplied;
  ApiToken token;
};

// A page of the console's token search (API.md §6). Empty strings mean "no filter".
struct TokenQuery {
  std::string organization_id;
  std::optional<TokenScope> scope;
  std::string project_id;             // exact
  std::string name_contains;          // case-insensitive
  std::string project_name_contains;  // case-insensitive
  std::vector<TokenStatus> statuses;  // empty = any
  TokenOrderKey order_key = TokenOrderKey::kName;
  bool descending = false;
  std::int64_t offset = 0;
  std::int64_t limit = 0;  // 0 = no limit
};

struct TokenPage {
  std::int64_t count = 0;  // matches before paging
  // With a name filter a store may stop counting at a bound (docs/api-decisions.md): `count`
  // is then that bound and there are at least that many matches.
  bool count_is_lower_bound = false;
  std::vector<ApiToken> tokens;
};

struct OrganizationQuery {
  std::string name_contains;
  bool descending = false;
  std::int64_t offset = 0;
  std::int64_t limit = 0;
};

struct OrganizationPage {
  std::int64_t count = 0;
  std::vector<Organization> organizations;
};

struct AuditEntry {
  std::int64_t id = 0;  // assigned by the store
  std::string organization_id;
  std::string actor_token_id;  // empty for the CLI or the system administrator
  std::string action;          // e.g. "token.reveal"
  std::string target_id;
  TimeMs at = 0;
};

struct AuditPage {
  std::int64_t count = 0;
  std::vector<AuditEntry> entries;  // newest first
};

// A filter over request records (API.md §4 export). Empty strings mean "no filter".
struct RequestQuery {
  std::string organization_id;
  std::string project_id;
  std::string assistant_name;
  std::string status;
  std::string api_token;           // a token's name or id
  std::optional<TimeMs> start_ms;  // inclusive
  std::optional<TimeMs> end_ms;    // inclusive
  std::int64_t skip = 0;
  std::int64_t count = 0;  // 0 = no limit
};

// Walks matching request records newest first without holding them all in memory, on a
// connection of its own and in short read transactions, so a long export never blocks other
// work. A record stored during the walk appears only if it sorts after the rows already
// returned.
class RequestCursor {
 public:
  virtual ~RequestCursor() = default;
  // Fills `record` and returns true, or returns false at the end.
  virtual Result<bool> Next(RequestRecord& record) = 0;
};

// Persistent state of organizations, projects and tokens. Every method is atomic (one
// transaction) and thread-safe. Methods that look up by id within an organization answer
// nullopt for ids of other organizations, so that existence never leaks across them.
// A write that cannot get the store within its budget fails with kStoreBusy (503) instead of
// waiting on. Conflicts come back as the API.md §2 error they mean (2029, 9001). Business rules
// that span rows (such as the last usable organization token) are decided by the directories and
// reach the store as conditions checked in the same transaction as the write.
class Store {
 public:
  virtual ~Store() = default;

  virtual Status Ping() = 0;

  virtual Result<std::optional<std::string>> GetSetting(const std::string& key) = 0;
  virtual Status PutSetting(const std::string& key, const std::string& value) = 0;

  // Creates an organization together with its first organization token.
  virtual Status CreateOrganization(const Organization& organization, const ApiToken& token,
                                    const TokenCredential& credential) = 0;
  virtual Result<std::optional<Organization>> FindOrganization(const std::string& id) = 0;
  virtual Result<std::optional<Organization>> FindOrganizationByName(const std::string& name) = 0;
  virtual Result<OrganizationPage> ListOrganizations(const OrganizationQuery& query) = 0;
  // Hides the organization and its projects and revokes all its tokens.
  virtual Status DeleteOrganization(const std::string& id, TimeMs now) = 0;

  // Creates a project together with its default project token.
  virtual Status CreateProject(const Project& project, const ApiToken& token,
                               const TokenCredential& credential) = 0;
  virtual Result<std::optional<Project>> FindProject(const std::string& organization_id,
                                                     const std::string& project_id) = 0;
  virtual Result<std::optional<Project>> FindProjectByName(const std::string& organization_id,
                                                           const std::string& name) = 0;
  // Ordered by name; hidden projects only with include_hidden.
  virtual Result<std::vector<Project>> ListProjects(const std::string& organization_id,
                                                    bool include_hidden) = 0;
  virtual Status UpdateProject(const Project& project) = 0;
  // Hides the project from every listing and revokes its tokens; request records stay.
  virtual Status DeleteProject(const std::string& organization_id, const std::string& project_id,
                               TimeMs now) = 0;

  virtual Status InsertToken(const ApiToken& token, const TokenCredential& credential) = 0;
  // Inserts several tokens in one transaction (one sync): each element of the answer is that
  // token's own outcome (9001 for a taken name), so one refusal does not fail the others. An
  // error for the whole call means none was stored.
  virtual Result<std::vector<Status>> InsertTokens(
      const std::vector<std::pair<ApiToken, TokenCredential>>& tokens) = 0;
  virtual Result<std::optional<ApiToken>> FindToken(const std::string& organization_id,
                                                    const std::string& token_id) = 0;
  virtual Result<std::optional<TokenCredential>> FindCredential(const std::string& token_id) = 0;
  // Applies `change` to the current row in one transaction, so concurrent changes never undo
  // each other, provided every part of `condition` holds at that moment; the outcome says
  // which did not. A revoked or unknown token is 9004; a name taken by a live token of the
  // same owner is 9001.
  virtual Result<TokenChangeResult> ChangeToken(const std::string& organization_id,
                                                const std::string& token_id,
                                                const TokenChange& change, TimeMs now,
                                                const TokenChangeCondition& condition) = 0;
  virtual Status UpdateCredential(const std::string& token_id, const TokenCredential& credential,
                                  const std::string& secret_prefix, TimeMs now) = 0;
  virtual Result<TokenPage> SearchTokens(const TokenQuery& query) = 0;
  // Drops every sealed secret copy (reveal=never): from then on secrets exist only as hashes.
  virtual Status DiscardSealedSecrets() = 0;
  virtual Status RecordLastUsed(const std::vector<std::pair<std::string, TimeMs>>& uses) = 0;

  // Calls `visit` for every token updated at or after `since` (revoked ones included, so
  // that a cache can drop them), with the project name filled in.
  virtual Status ForEachTokenChangedSince(
      TimeMs since, const std::function<void(const ApiToken&, const TokenCredential&)>& visit) = 0;

  virtual Status AppendAudit(const AuditEntry& entry) = 0;
  virtual Result<AuditPage> ListAudit(const std::string& organization_id, std::int64_t offset,
                                      std::int64_t limit) = 0;

  // Assistants are scoped to a project; names are unique among a project's live assistants
  // (2030). Creating and every change of prompt or settings also stores the revision.
  virtual Status CreateAssistant(const Assistant& assistant) = 0;
  // By id, else by name, within the project; nullopt when absent or deleted.
  virtual Result<std::optional<Assistant>> FindAssistant(const std::string& project_id,
                                                         const std::string& id_or_name) = 0;
  virtual Result<std::vector<Assistant>> ListAssistants(const std::string& project_id) = 0;
  virtual Result<std::vector<AssistantRevision>> ListAssistantRevisions(
      const std::string& assistant_id) = 0;
  virtual Status UpdateAssistant(const Assistant& assistant, bool new_revision) = 0;
  virtual Status DeleteAssistant(const std::string& project_id, const std::string& assistant_id,
                                 TimeMs now) = 0;

  // Appends request records in one transaction.
  virtual Status AppendRequests(const std::vector<RequestRecord>& records) = 0;
  virtual Result<std::unique_ptr<RequestCursor>> OpenRequestCursor(const RequestQuery& query) = 0;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_STORE_H_
