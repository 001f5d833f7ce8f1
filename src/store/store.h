#ifndef GATEHOUSE_STORE_STORE_H_
#define GATEHOUSE_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/model.h"
#include "core/usage_limit.h"
#include "core/usage_slice.h"

namespace gatehouse {

// The codes a store keeps for the enums of core/model.h ("stored on disk"): their values, on
// SQLite and PostgreSQL alike.
constexpr std::int64_t StoredCode(TokenStatus status) { return static_cast<std::int64_t>(status); }
constexpr std::int64_t StoredCode(TokenScope scope) { return static_cast<std::int64_t>(scope); }
inline constexpr std::int64_t kRevoked = StoredCode(TokenStatus::kRevoked);

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
  std::optional<std::optional<std::int64_t>> rate_limit_per_minute;  // present null = none
  // API.md §3: present null = no restriction, a present list replaces the old one.
  std::optional<TokenPermissions::List> allowed_models;
  std::optional<TokenPermissions::List> allowed_assistants;
  std::optional<TokenPermissions::List> allowed_cidrs;

  // Applies the present fields to `token`.
  void ApplyTo(ApiToken& token) const {
    if (name) token.name = *name;
    if (description) token.description = *description;
    if (status) token.status = *status;
    if (expires_at) token.expires_at = *expires_at;
    if (rate_limit_per_minute) token.rate_limit_per_minute = *rate_limit_per_minute;
    if (allowed_models) token.permissions.allowed_models = *allowed_models;
    if (allowed_assistants) token.permissions.allowed_assistants = *allowed_assistants;
    if (allowed_cidrs) token.permissions.allowed_cidrs = *allowed_cidrs;
  }
};

// What ChangeToken checks atomically with its write (a conditional write), so that a rule
// decided above the store (TokenDirectory) still holds when the write lands. Unset = no check.
struct TokenChangeCondition {
  // The row still has the status and expiry that the caller decided on.
  std::optional<TokenStatus> expected_status;
  std::optional<std::optional<TimeMs>> expected_expires_at;
  // Another organization token of the same organization is usable at this time
  // (TokenUsableAt: Active and unexpired); the largest TimeMs asks for one without expiry.
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

// One event of the audit trail (API.md §12). Names are kept as they were when the event
// happened, so a later rename or deletion does not rewrite history.
struct AuditEntry {
  std::int64_t id = 0;  // assigned by the store
  std::string organization_id;
  std::string actor_token_id;  // empty for the CLI or the system administrator
  std::string action;          // e.g. "token.reveal"
  std::string target_id;
  TimeMs at = 0;
  std::string actor_name;      // the acting token's name; empty for the system
  std::string remote_address;  // empty when not made over HTTP
  std::string target_name;
  std::string target_type;  // "token" | "project" | "limit" | "organization" | "assistant"
  std::string details;      // a JSON object {field: {"from", "to"}}; empty = {}
};

// A crossing of a soft or hard limit that a node saw; announced once per period whichever
// node sees it (the first claim wins), with `audit` stored only then.
struct LimitCrossingClaim {
  bool hard = false;
  TimeMs period = 0;  // the limit's valid_from when it was crossed
  AuditEntry audit;
};

// One node's settlement of one limit (Store::SettleUsage).
struct UsageSettlement {
  std::string limit_id;
  SliceRequest slice;
  std::vector<LimitCrossingClaim> claims;
};

struct SettledUsage {
  bool found = false;
  UsageLimit limit;  // as stored after the settlement: the usage of every node
  SliceOutcome slice;
  OtherSlices others;
  std::vector<bool> claimed;  // one per claim of the settlement
};

// A token to store, with the audit event of its creation (stored in the same transaction).
// What a change another process committed touched (Store::WatchChanges).
enum class StoreChange : std::uint8_t {
  kTokens,      // tokens or console sign-outs
  kAssistants,  // assistants
};

struct TokenInsert {
  ApiToken token;
  TokenCredential credential;
  std::optional<AuditEntry> audit;
};
using TokenInsertDone = std::function<void(TokenInsert& insert, Status outcome)>;

// Who makes a change, for its audit entry: a token (API, console) or the system (CLI, system
// administrator), which has no token id and is shown as "(system)".
struct AuditActor {
  std::string token_id;
  std::string name;
  std::string remote_address;

  static AuditActor System() { return AuditActor{}; }
};

// An entry for `action` on a target by `actor` at `at`; `details` is a JSON object text.
inline AuditEntry MakeAuditEntry(const AuditActor& actor, std::string organization_id,
                                 std::string action, std::string target_type, std::string target_id,
                                 std::string target_name, TimeMs at, std::string details = {}) {
  AuditEntry entry;
  entry.organization_id = std::move(organization_id);
  entry.actor_token_id = actor.token_id;
  entry.actor_name = actor.name;
  entry.remote_address = actor.remote_address;
  entry.action = std::move(action);
  entry.target_type = std::move(target_type);
  entry.target_id = std::move(target_id);
  entry.target_name = std::move(target_name);
  entry.at = at;
  entry.details = std::move(details);
  return entry;
}

// A filter over an organization's audit trail. Empty strings mean "no filter".
struct AuditQuery {
  std::string organization_id;
  std::string action;
  std::string target_id;
  std::string actor_token_id;
  std::optional<TimeMs> start_ms;  // inclusive
  std::optional<TimeMs> end_ms;    // inclusive
  std::int64_t offset = 0;
  std::int64_t limit = 0;  // 0 = no limit
};

// Builds the audit entry of a token change from the row before and after it; nullopt = none.
using AuditOfChange =
    std::function<std::optional<AuditEntry>(const ApiToken& before, const ApiToken& after)>;

struct AuditPage {
  std::int64_t count = 0;
  std::vector<AuditEntry> entries;  // newest first
};

// A console session ended before its expiry (docs/architecture.md "Console sessions"): every
// node refuses its cookie until `expires_at`. `signed_out_at` is the ending node's clock.
struct ConsoleSignOut {
  std::string session_id;
  TimeMs expires_at = 0;
  TimeMs signed_out_at = 0;
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

// What a usage summary (API.md §8) groups by; kNone adds everything up.
enum class UsageDimension { kNone, kProject, kToken, kAssistant, kModel };

// How finely the rows of a usage summary split time.
enum class UsageGrain {
  kTotal,   // one row per group (period_ms 0)
  kHour,    // one row per group and UTC hour
  kUtcDay,  // one row per group and UTC day (day buckets in UTC need no finer rows)
};

// A usage summary over the half-open range [start_ms, end_ms). Empty strings: no filter.
struct UsageSummaryQuery {
  std::string organization_id;
  std::string project_id;
  std::string api_token_id;
  std::string assistant;
  std::string model;
  TimeMs start_ms = 0;
  TimeMs end_ms = 0;
  UsageDimension group_by = UsageDimension::kNone;
  UsageGrain grain = UsageGrain::kTotal;
};

struct UsageTotals {
  std::int64_t requests = 0;
  std::int64_t failed = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost = 0;
  std::int64_t elapsed_ms = 0;  // summed over the requests: an average needs no other data

  UsageTotals& operator+=(const UsageTotals& other) {
    requests += other.requests;
    failed += other.failed;
    prompt_tokens += other.prompt_tokens;
    completion_tokens += other.completion_tokens;
    cost += other.cost;
    elapsed_ms += other.elapsed_ms;
    return *this;
  }
};

// One group (and hour or day, by the query's grain) of a usage summary.
struct UsageRow {
  std::string key;    // the group's id (or assistant / model name); empty for kNone
  std::string label;  // the project's or token's current name, when grouped by them
  // A token's project, when grouped by token: the token's name alone is ambiguous (every
  // project has its `Default`).
  std::string project_id;
  std::string project_name;
  TimeMs period_ms = 0;  // the start of the UTC hour or day the row adds up; 0 at kTotal
  UsageTotals totals;
};

// A request record read in place: the fields of RequestRecord as views of the store's current
// row (nullopt for a null), valid only while the call that receives it runs.
struct RequestRecordView {
  std::string_view id;
  std::string_view organization_id;
  std::string_view project_id;
  std::string_view api_token_id;
  std::string_view api_token_name;
  std::optional<std::string_view> assistant;
  std::optional<std::string_view> intent;
  std::string_view module;
  std::optional<std::string_view> session_id;
  std::string_view model;
  std::string_view status;
  int http_status = 0;
  TimeMs start_ms = 0;
  TimeMs end_ms = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
  double cost = 0;
  std::optional<std::string_view> prompt;
  std::optional<std::string_view> input_text;
  std::optional<std::string_view> output;
};

// Copies `view` into `record`, reusing the capacity of its strings.
void AssignRecord(RequestRecord& record, const RequestRecordView& view);

// Walks matching request records newest first without holding them all in memory, on
// connections apart from the writer's (SQLite: one of its own; PostgreSQL: one leased from the
// export pool for each page) and in short read transactions, so a long export never blocks other
// work. A record stored during the walk appears only if it sorts after the rows already
// returned.
class RequestCursor {
 public:
  // Receives one record; returns false to stop the read after it.
  using Visitor = std::function<bool(const RequestRecordView& record)>;

  virtual ~RequestCursor() = default;
  // Passes the next records to `visit`, in order and without copying them, until `visit`
  // returns false (that record counts as read) or one short read transaction ends. Returns how
  // many records `visit` received: 0 only at the end of the walk.
  virtual Result<std::size_t> Read(const Visitor& visit) = 0;
  // Copies the next record into `record` and returns true, or returns false at the end.
  Result<bool> Next(RequestRecord& record);
};

// One part of a walk of request records (RequestParts).
struct RequestPart {
  std::unique_ptr<RequestCursor> cursor;  // nullptr: the walk has no more parts
  TimeMs span_ms = 0;                     // how many milliseconds of start_ms the part covers
};

// Cuts one walk of request records (a RequestQuery without skip or count) into consecutive
// parts by start_ms, so that separate threads can read neighbouring parts at the same time:
// every record of the walk is in exactly one part, and each part's records come after all
// records of the parts before it. Next() is not thread-safe; the cursors it returns may be read
// on other threads (one thread per cursor at a time) and must be destroyed before this object.
class RequestParts {
 public:
  virtual ~RequestParts() = default;
  // The next part: the records whose start_ms lies in the `span_ms` milliseconds that end at
  // the newest record below the previous part (parts skip stretches of time without records,
  // so no part is empty of the organization's or project's records). A `span_ms` of
  // 0 lets the store choose a span that holds about a thousand records of the organization or
  // project. At most the `max_open` given to Store::OpenRequestParts may be open at once; a
  // further call is kInternal.
  virtual Result<RequestPart> Next(TimeMs span_ms) = 0;
};

// Walks the live (Active and Blocked) tokens of one project in the order of SearchTokens by
// name ascending (name without case, then status, then storage order) without holding them all
// in memory: each page is one short read, and the next page continues strictly after the last
// token returned (keyset), so the walk stays correct while tokens change. A token created during
// the walk appears only if it sorts after the last token returned; one revoked before its page
// is read does not appear; none appears twice. Not thread-safe (one reader at a time).
class TokenCursor {
 public:
  virtual ~TokenCursor() = default;
  // Fills `token` and returns true, or returns false at the end.
  virtual Result<bool> Next(ApiToken& token) = 0;
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

  // Where a cache's next read of changes (ForEachTokenChangedSince, ForEachConsoleSignOutSince,
  // less the reader's overlap) starts so that it misses nothing committed after this call. On
  // PostgreSQL that is the database's clock, which every node shares (a node whose own clock
  // runs ahead would otherwise read past changes made meanwhile on others), or the start of the
  // oldest transaction still writing when that is earlier (its rows are stamped before they
  // are seen). On SQLite, which only this machine writes, it is `node_now`.
  virtual Result<TimeMs> ChangeMark(TimeMs node_now) = 0;

  virtual Result<std::optional<std::string>> GetSetting(const std::string& key) = 0;
  virtual Status PutSetting(const std::string& key, const std::string& value) = 0;
  // Stores `value` unless `key` has one already, and returns the value stored: the first of
  // several nodes starting at once on one database decides (the master key's check value).
  virtual Result<std::string> PutSettingOnce(const std::string& key, const std::string& value) = 0;

  // Creates an organization together with its first organization token.
  virtual Status CreateOrganization(const Organization& organization, const ApiToken& token,
                                    const TokenCredential& credential,
                                    const AuditEntry* audit = nullptr) = 0;
  virtual Result<std::optional<Organization>> FindOrganization(const std::string& id) = 0;
  virtual Result<std::optional<Organization>> FindOrganizationByName(const std::string& name) = 0;
  virtual Result<OrganizationPage> ListOrganizations(const OrganizationQuery& query) = 0;
  // Hides the organization and its projects and revokes all its tokens.
  virtual Status DeleteOrganization(const std::string& id, TimeMs now,
                                    const AuditEntry* audit = nullptr) = 0;

  // Creates a project together with its default project token.
  virtual Status CreateProject(const Project& project, const ApiToken& token,
                               const TokenCredential& credential) = 0;
  virtual Result<std::optional<Project>> FindProject(const std::string& organization_id,
                                                     const std::string& project_id) = 0;
  virtual Result<std::optional<Project>> FindProjectByName(const std::string& organization_id,
                                                           const std::string& name) = 0;
  // Whether the organization has or had the project (a deleted one included): its records stay
  // exportable by its id.
  virtual Result<bool> KnowsProject(const std::string& organization_id,
                                    const std::string& project_id) = 0;
  // Ordered by name; hidden projects only with include_hidden.
  virtual Result<std::vector<Project>> ListProjects(const std::string& organization_id,
                                                    bool include_hidden) = 0;
  // Stores `changed` while the stored project is live and still as `read` (name, description,
  // active): kConflict when another change came first, kProjectNotFound when the project was
  // deleted meanwhile (nothing is written then, not even the audit entry).
  virtual Status UpdateProject(const Project& read, const Project& changed,
                               const AuditEntry* audit = nullptr) = 0;
  // Hides the project from every listing and revokes its tokens; request records stay.
  virtual Status DeleteProject(const std::string& organization_id, const std::string& project_id,
                               TimeMs now, const AuditEntry* audit = nullptr) = 0;

  // Stores `token` with the audit event of its creation in one transaction, shared with the
  // creations queued meanwhile (group commit); returns once that transaction has committed.
  // QueueTokenInsert, waited for (store.cc).
  Status InsertToken(const ApiToken& token, const TokenCredential& credential,
                     const AuditEntry* audit = nullptr);
  // Queues `insert` for the next group commit and returns at once. `done` runs once, on a
  // thread of the store's, when the transaction holding the token has committed (its own
  // outcome: 9001 for a taken name) or failed (that error); it may move from `insert`, must
  // not block and must not write to the store.
  virtual void QueueTokenInsert(TokenInsert insert, TokenInsertDone done) = 0;
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
  // same owner is 9001. `audit`, when set, describes an applied change from the row before to
  // the row after; its entry (if any) is stored in the same transaction.
  virtual Result<TokenChangeResult> ChangeToken(const std::string& organization_id,
                                                const std::string& token_id,
                                                const TokenChange& change, TimeMs now,
                                                const TokenChangeCondition& condition,
                                                const AuditOfChange& audit = {}) = 0;
  // Replaces the token's credential (a rotation) while its status is still `expected_status`,
  // else changes nothing and fails with kConflict (the token was blocked, unblocked or revoked
  // since it was read).
  virtual Status UpdateCredential(const std::string& token_id, const TokenCredential& credential,
                                  const std::string& secret_prefix, TokenStatus expected_status,
                                  TimeMs now, const AuditEntry* audit = nullptr) = 0;
  virtual Result<TokenPage> SearchTokens(const TokenQuery& query) = 0;
  // Brings what SearchTokens keeps in memory up to date with what is stored, loading it on the
  // first call (which takes about a second at a million tokens). A maintenance thread calls it,
  // so that searches start from a loaded index and find little to apply.
  virtual Status RefreshSearchIndex() = 0;
  // A cursor over the live tokens of `project_id` within `organization_id` (none for a project
  // of another organization), reading `page_rows` tokens per read. The store must outlive it.
  virtual Result<std::unique_ptr<TokenCursor>> OpenProjectTokens(const std::string& organization_id,
                                                                 const std::string& project_id,
                                                                 std::int64_t page_rows) = 0;
  // Drops every sealed secret copy (reveal=never): from then on secrets exist only as hashes.
  virtual Status DiscardSealedSecrets() = 0;
  // Stores the last uses (token id, time; a later time than stored wins). Returns the uses
  // left for a later flush: on PostgreSQL a last use never waits for a token's row that
  // another transaction holds (so it never deadlocks with a write of several tokens, such as an
  // organization's deletion), and skips it instead. The caller keeps them, as after a failure.
  virtual Result<std::vector<std::pair<std::string, TimeMs>>> RecordLastUsed(
      const std::vector<std::pair<std::string, TimeMs>>& uses) = 0;

  // Calls `visit` for every token updated at or after `since` (revoked ones included, so
  // that a cache can drop them), with the project name filled in; a store may visit others
  // changed about then too. `since` is a ChangeMark less an overlap: on PostgreSQL the
  // database's clock, which stamps every change (changed_at_db) whatever the nodes' clocks.
  virtual Status ForEachTokenChangedSince(
      TimeMs since, const std::function<void(const ApiToken&, const TokenCredential&)>& visit) = 0;
  // Calls `visit` for every non-revoked token with only what a TokenCache holds filled in: ids,
  // names (token, project, organization), scope, status, expiry, last use, rate limit,
  // permissions and the secret hashes; no description, timestamps, prefix or sealed copy.
  virtual Status ForEachLiveToken(
      const std::function<void(const ApiToken&, const TokenCredential&)>& visit) = 0;
  // How many tokens are not revoked (from counts kept on write; no table scan).
  virtual Result<std::int64_t> CountLiveTokens() = 0;
  // Calls `on_change`, on a thread of the store's, soon after any process (another node)
  // commits a change to tokens, console sign-outs or assistants, saying which, so that a cache
  // can resync at once rather than at its next poll; nullptr stops the calls and returns once
  // none runs. After missing notifications (a lost connection) it reports both kinds. A store
  // that cannot tell (SQLite, where only the local CLI writes besides this process) never
  // calls it.
  virtual void WatchChanges(std::function<void(StoreChange)> on_change) { (void)on_change; }

  // Console sign-outs, shared by the nodes of one store (sqlite_store_sessions.cc,
  // pg_store_sessions.cc). Stores `sign_outs` in one transaction; a session id already stored
  // is kept as it is. On PostgreSQL the commit also wakes every node's WatchChanges.
  virtual Status AddConsoleSignOuts(const std::vector<ConsoleSignOut>& sign_outs) = 0;
  // Calls `visit` for every sign-out recorded at or after `since` (by the ending node's clock
  // or, on PostgreSQL, by the database's: ChangeMark), expired ones included; `since` 0 visits
  // all.
  virtual Status ForEachConsoleSignOutSince(
      TimeMs since, const std::function<void(const ConsoleSignOut&)>& visit) = 0;
  // Deletes the sign-outs whose session expired at or before `now`.
  virtual Status PruneConsoleSignOuts(TimeMs now) = 0;

  virtual Status AppendAudit(const AuditEntry& entry) = 0;
  virtual Result<AuditPage> ListAudit(const AuditQuery& query) = 0;

  // Usage limits (API.md §7; sqlite_store_limits.cc). At most one current (Active or Empty)
  // limit per project and per organization: a second one is 409 (kConflict). Each write stores
  // `audit` (when given) in the same transaction.
  virtual Status InsertUsageLimit(const UsageLimit& limit, const AuditEntry* audit) = 0;
  // Creates a project with its default token and, when given, its limit, in one transaction.
  virtual Status CreateProjectWithLimit(const Project& project, const ApiToken& token,
                                        const TokenCredential& credential, const UsageLimit* limit,
                                        const std::vector<AuditEntry>& audit) = 0;
  virtual Status UpdateUsageLimit(const UsageLimit& limit, const AuditEntry* audit) = 0;
  // Nullopt for ids of other organizations, like unknown ones.
  virtual Result<std::optional<UsageLimit>> FindUsageLimit(const std::string& organization_id,
                                                           const std::string& limit_id) = 0;
  // The limits of a project, or of the organization itself when `project_id` is empty; newest
  // first.
  virtual Result<std::vector<UsageLimit>> ListUsageLimits(const std::string& organization_id,
                                                          const std::string& project_id) = 0;
  // Every current (Active or Empty) limit of every organization (start-up).
  virtual Result<std::vector<UsageLimit>> ListCurrentUsageLimits() = 0;
  // Settles what node `node_id` counted against each limit of `settlements`, all in one
  // transaction (core/usage_slice.h): per limit, with the limit's row held, rolls its period,
  // adds the usage (used_amount grows: every node's usage adds up), applies the status, decides
  // the node's slice with SettleSlice, marks the crossings it can claim (storing their audit
  // entries) and forgets slices of nodes silent for kSliceLifetimeMs. Answers one
  // SettledUsage per settlement, in order; a limit that no longer exists is answered with
  // found = false. `now` is the node's clock (periods); liveness of slices uses the store's.
  virtual Result<std::vector<SettledUsage>> SettleUsage(
      const std::string& node_id, const std::vector<UsageSettlement>& settlements, TimeMs now) = 0;

  // The organization's own limit webhook URL (API.md §7); empty when none.
  virtual Result<std::string> GetOrganizationWebhook(const std::string& organization_id) = 0;
  virtual Status SetOrganizationWebhook(const std::string& organization_id, const std::string& url,
                                        const AuditEntry* audit) = 0;

  // Assistants are scoped to a project; names are unique among a project's live assistants
  // (2030). Creating and every change of prompt or settings also stores the revision.
  virtual Status CreateAssistant(const Assistant& assistant, const AuditEntry* audit = nullptr) = 0;
  // By id, else by name, within the project; nullopt when absent or deleted.
  virtual Result<std::optional<Assistant>> FindAssistant(const std::string& project_id,
                                                         const std::string& id_or_name) = 0;
  virtual Result<std::vector<Assistant>> ListAssistants(const std::string& project_id) = 0;
  // Every live assistant of every project: what the gateway's in-memory catalog starts from.
  virtual Result<std::vector<Assistant>> ListAllAssistants() = 0;
  virtual Result<std::vector<AssistantRevision>> ListAssistantRevisions(
      const std::string& assistant_id) = 0;
  // Stores `changed` while the stored assistant is live and still as `read` (its revision, which
  // every prompt or settings change bumps, and its name and description): kConflict when
  // another change or a delete came first, so that a late write never rolls a newer one back
  // nor drops a rename that landed in between. A `changed.revision` past `read.revision` also
  // stores the revision.
  virtual Status UpdateAssistant(const Assistant& read, const Assistant& changed,
                                 const AuditEntry* audit = nullptr) = 0;
  virtual Status DeleteAssistant(const std::string& project_id, const std::string& assistant_id,
                                 TimeMs now, const AuditEntry* audit = nullptr) = 0;

  // Whether some of the records given to AppendRequests may be stored already: a batch written
  // again after a failure, or the request journal replayed after a crash.
  enum class RecordArrival { kFresh, kMayRepeat };
  // Appends request records in one transaction. With kMayRepeat a record already stored (same
  // organization, start and id) is neither stored nor counted again; kFresh skips that lookup
  // (an index probe a record: about a tenth of the writer's work).
  virtual Status AppendRequests(const std::vector<RequestRecord>& records,
                                RecordArrival arrival = RecordArrival::kMayRepeat) = 0;
  virtual Result<std::unique_ptr<RequestCursor>> OpenRequestCursor(const RequestQuery& query) = 0;
  // The same walk as OpenRequestCursor(query) in parts (RequestParts); `query` has no skip and
  // no count. Each open part reads apart from the others (SQLite: a read-only connection of its
  // own; PostgreSQL: connections of the export pool, leased for one page at a time).
  virtual Result<std::unique_ptr<RequestParts>> OpenRequestParts(const RequestQuery& query,
                                                                 std::size_t max_open) = 0;
  // Adds up the records `query` selects, from rollups by hour and by UTC day kept as records
  // are appended (only the partial hours at the range's ends read the records themselves).
  // Rows come in no particular order, at most one per (key, period).
  virtual Result<std::vector<UsageRow>> SummarizeUsage(const UsageSummaryQuery& query) = 0;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_STORE_H_
