#ifndef GATEHOUSE_STORE_SQLITE_SQLITE_STORE_H_
#define GATEHOUSE_STORE_SQLITE_SQLITE_STORE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/checkpointer.h"
#include "store/sqlite/database.h"
#include "store/sqlite/reader_pool.h"
#include "store/store.h"
#include "store/token_name_index.h"

namespace gatehouse {

// The embedded store: one SQLite file in WAL mode. Writes go through one writer connection,
// one transaction at a time; a write that cannot have the writer (or SQLite's write lock, which
// another process such as the CLI may hold) within kWriteBudget fails with 503 (kStoreBusy)
// instead of waiting on. Reads run on a small pool of read-only connections beside it, so a
// long search never delays a write. Token creations are queued to a thread of the store's,
// which stores every creation queued meanwhile in one transaction (group commit), so the
// number of creations sharing a commit is bounded by the callers, not by their threads.
// Authentication never comes here (TokenCache).
class SqliteStore final : public Store {
 public:
  // Opens or creates `path` and applies pending migrations. Throws std::runtime_error
  // (start-up only).
  explicit SqliteStore(const std::string& path);
  ~SqliteStore() override;

  // The statements SearchTokens runs for `query`, each followed by its EXPLAIN QUERY PLAN
  // (docs/BENCHMARKS.md; `gatehouse bench explain`).
  Result<std::string> ExplainSearchTokens(const TokenQuery& query);

  // When searches use the in-memory name index (once it is loaded): name filters always and
  // other queries in name order when it is cheaper (the default), never (the SQL plans alone),
  // or for every query it can answer. The search tests check each against a brute-force filter.
  enum class NameIndexUse { kNever, kWhenCheaper, kAlways };
  void UseNameIndex(NameIndexUse use) { name_index_use_ = use; }
  // For tests: RefreshSearchIndex merges every change into the ranked orders, however few.
  void MergeSearchOrdersAtOnce() { name_index_.MergeAtOnce(); }

  // Writes a consistent copy of the live database to `destination` (SQLite online backup).
  Status Backup(const std::string& destination);

  Status Ping() override;
  Result<TimeMs> ChangeMark(TimeMs node_now) override { return node_now; }
  Result<std::optional<std::string>> GetSetting(const std::string& key) override;
  Status PutSetting(const std::string& key, const std::string& value) override;
  Result<std::string> PutSettingOnce(const std::string& key, const std::string& value) override;

  Status CreateOrganization(const Organization& organization, const ApiToken& token,
                            const TokenCredential& credential,
                            const AuditEntry* audit = nullptr) override;
  Result<std::optional<Organization>> FindOrganization(const std::string& id) override;
  Result<std::optional<Organization>> FindOrganizationByName(const std::string& name) override;
  Result<OrganizationPage> ListOrganizations(const OrganizationQuery& query) override;
  Status DeleteOrganization(const std::string& id, TimeMs now,
                            const AuditEntry* audit = nullptr) override;

  Status CreateProject(const Project& project, const ApiToken& token,
                       const TokenCredential& credential) override;
  Result<std::optional<Project>> FindProject(const std::string& organization_id,
                                             const std::string& project_id) override;
  Result<std::optional<Project>> FindProjectByName(const std::string& organization_id,
                                                   const std::string& name) override;
  Result<bool> KnowsProject(const std::string& organization_id,
                            const std::string& project_id) override;
  Result<std::vector<Project>> ListProjects(const std::string& organization_id,
                                            bool include_hidden) override;
  Status UpdateProject(const Project& read, const Project& changed,
                       const AuditEntry* audit = nullptr) override;
  Status DeleteProject(const std::string& organization_id, const std::string& project_id,
                       TimeMs now, const AuditEntry* audit = nullptr) override;

  // `done` runs on the token writer thread, after the writer connection is released.
  void QueueTokenInsert(TokenInsert insert, TokenInsertDone done) override;
  Result<std::vector<Status>> InsertTokens(
      const std::vector<std::pair<ApiToken, TokenCredential>>& tokens) override;
  Result<std::optional<ApiToken>> FindToken(const std::string& organization_id,
                                            const std::string& token_id) override;
  Result<std::optional<TokenCredential>> FindCredential(const std::string& token_id) override;
  Result<TokenChangeResult> ChangeToken(const std::string& organization_id,
                                        const std::string& token_id, const TokenChange& change,
                                        TimeMs now, const TokenChangeCondition& condition,
                                        const AuditOfChange& audit = {}) override;
  Status UpdateCredential(const std::string& token_id, const TokenCredential& credential,
                          const std::string& secret_prefix, TokenStatus expected_status, TimeMs now,
                          const AuditEntry* audit = nullptr) override;
  Result<TokenPage> SearchTokens(const TokenQuery& query) override;
  Status RefreshSearchIndex() override;
  // Each page leases a connection of the reader pool for one statement only.
  Result<std::unique_ptr<TokenCursor>> OpenProjectTokens(const std::string& organization_id,
                                                         const std::string& project_id,
                                                         std::int64_t page_rows) override;
  // The statement that reads each page of OpenProjectTokens, followed by its EXPLAIN QUERY
  // PLAN (tests and `gatehouse bench explain`).
  Result<std::string> ExplainProjectTokensPage();
  Status DiscardSealedSecrets() override;
  Result<std::vector<std::pair<std::string, TimeMs>>> RecordLastUsed(
      const std::vector<std::pair<std::string, TimeMs>>& uses) override;
  Status ForEachTokenChangedSince(
      TimeMs since,
      const std::function<void(const ApiToken&, const TokenCredential&)>& visit) override;
  Status ForEachLiveToken(
      const std::function<void(const ApiToken&, const TokenCredential&)>& visit) override;
  Result<std::int64_t> CountLiveTokens() override;

  Status AddConsoleSignOuts(const std::vector<ConsoleSignOut>& sign_outs) override;
  Status ForEachConsoleSignOutSince(
      TimeMs since, const std::function<void(const ConsoleSignOut&)>& visit) override;
  Status PruneConsoleSignOuts(TimeMs now) override;

  Status AppendAudit(const AuditEntry& entry) override;
  Result<AuditPage> ListAudit(const AuditQuery& query) override;

  Status InsertUsageLimit(const UsageLimit& limit, const AuditEntry* audit) override;
  Status CreateProjectWithLimit(const Project& project, const ApiToken& token,
                                const TokenCredential& credential, const UsageLimit* limit,
                                const std::vector<AuditEntry>& audit) override;
  Status UpdateUsageLimit(const UsageLimit& limit, const AuditEntry* audit) override;
  Result<std::optional<UsageLimit>> FindUsageLimit(const std::string& organization_id,
                                                   const std::string& limit_id) override;
  Result<std::vector<UsageLimit>> ListUsageLimits(const std::string& organization_id,
                                                  const std::string& project_id) override;
  Result<std::vector<UsageLimit>> ListCurrentUsageLimits() override;
  Result<std::vector<SettledUsage>> SettleUsage(const std::string& node_id,
                                                const std::vector<UsageSettlement>& settlements,
                                                TimeMs now) override;
  Result<std::string> GetOrganizationWebhook(const std::string& organization_id) override;
  Status SetOrganizationWebhook(const std::string& organization_id, const std::string& url,
                                const AuditEntry* audit) override;

  Status CreateAssistant(const Assistant& assistant, const AuditEntry* audit = nullptr) override;
  Result<std::optional<Assistant>> FindAssistant(const std::string& project_id,
                                                 const std::string& id_or_name) override;
  Result<std::vector<Assistant>> ListAssistants(const std::string& project_id) override;
  Result<std::vector<Assistant>> ListAllAssistants() override;
  Result<std::vector<AssistantRevision>> ListAssistantRevisions(
      const std::string& assistant_id) override;
  Status UpdateAssistant(const Assistant& read, const Assistant& changed,
                         const AuditEntry* audit = nullptr) override;
  Status DeleteAssistant(const std::string& project_id, const std::string& assistant_id, TimeMs now,
                         const AuditEntry* audit = nullptr) override;

  Status AppendRequests(const std::vector<RequestRecord>& records,
                        RecordArrival arrival = RecordArrival::kMayRepeat) override;
  Result<std::unique_ptr<RequestCursor>> OpenRequestCursor(const RequestQuery& query) override;
  Result<std::unique_ptr<RequestParts>> OpenRequestParts(const RequestQuery& query,
                                                         std::size_t max_open) override;
  Result<std::vector<UsageRow>> SummarizeUsage(const UsageSummaryQuery& query) override;

 private:
  // Stores one token and counts it (AddTokenCountsLocked), in the caller's transaction.
  Status InsertTokenLocked(const ApiToken& token, const TokenCredential& credential);
  // Stores the token's row only; the caller counts what was stored before it commits.
  Status InsertTokenRowLocked(const ApiToken& token, const TokenCredential& credential);
  // Adds `stored`, tokens new in the caller's transaction, to api_token_counts: one upsert per
  // organization, project and status.
  Status AddTokenCountsLocked(const std::vector<const ApiToken*>& stored);
  // The token writer thread: stores whatever QueueTokenInsert queued since its last
  // transaction in one transaction, until the store closes (then it drains the queue).
  void WriteQueuedTokens();
  // Stores `batch` in one transaction: each token's outcome, or the error that failed them all.
  std::vector<Status> StoreTokenBatch(const std::vector<TokenInsert*>& batch);
  Status InsertProjectLocked(const Project& project, const ApiToken& token,
                             const TokenCredential& credential);
  Result<TokenPage> SearchTokensIn(sqlite::Database& db, const TokenQuery& query,
                                   std::string* explain);
  // A search answered from the name index, which counts its matches.
  Result<TokenPage> SearchByNameIndex(sqlite::Database& db, const TokenQuery& query,
                                      std::string* explain);
  // The page of a query without a name filter, whose `count` matches api_token_counts gave,
  // from the name index when it is loaded and cheaper than the SQL plans; nullopt otherwise.
  std::optional<Result<TokenPage>> SearchInIndexOrder(sqlite::Database& db, const TokenQuery& query,
                                                      std::int64_t count, std::string* explain);
  // That page read from the index's order of `key` (nullopt when that order is being made
  // again), and in status order, which is the name order within each status.
  std::optional<Result<TokenPage>> RankedPage(sqlite::Database& db, const TokenQuery& query,
                                              std::int64_t count, RankedKey key,
                                              std::string* explain);
  Result<TokenPage> StatusOrderPage(sqlite::Database& db, const TokenQuery& query,
                                    std::int64_t count, std::string* explain);
  // Brings name_index_ up to date through `db` (see TokenNameIndex::Sync).
  Result<bool> SyncNameIndex(sqlite::Database& db);
  // What the name index is asked for `query` (project name filters resolved to project ids).
  static Result<NameSearch> NameSearchOf(sqlite::Database& db, const TokenQuery& query);
  // The tokens of `rowids` that pass the query's filters, in the query's order (with its LIMIT
  // and OFFSET when `paged`).
  static Result<TokenPage> ReadRowids(sqlite::Database& db, const TokenQuery& query,
                                      const std::vector<std::int64_t>& rowids, bool paged,
                                      TokenPage page, std::string* explain);
  // Reads the tokens of `from` (" FROM ... WHERE ...") into `page` in the query's order, with
  // the query's LIMIT and OFFSET when `paged`; `rowids` binds ?9.
  static Result<TokenPage> ReadPage(sqlite::Database& db, const TokenQuery& query,
                                    const std::string& from, bool paged, const std::string* rowids,
                                    TokenPage page, std::string* explain);
  static Result<std::optional<ApiToken>> FindTokenIn(sqlite::Database& db,
                                                     const std::string& organization_id,
                                                     const std::string& token_id);
  // The writer connection, or 503 (kStoreBusy) when another writer keeps it past kWriteBudget.
  Result<std::unique_lock<std::timed_mutex>> LockWriter();
  Result<std::optional<Organization>> FindOrganizationWhere(const std::string& where,
                                                            const std::string& value);
  Status InsertRevisionLocked(const Assistant& assistant);
  // Adds newly stored records to the usage rollups (by hour and by day), inside the caller's
  // transaction.
  Status RollUpLocked(const std::vector<const RequestRecord*>& records);
  // The live assistants matching `where` (a clause that may use ?1 = *project_id).
  Result<std::vector<Assistant>> ReadAssistants(const char* where, const std::string* project_id);
  // Require the writer held (LockWriter; sqlite_store_limits.cc, sqlite_store_audit.cc).
  Status AppendAuditLocked(const AuditEntry& entry);
  Status InsertUsageLimitLocked(const UsageLimit& limit);
  Status WriteUsageLimitLocked(const UsageLimit& limit);
  Result<SettledUsage> SettleUsageLocked(const std::string& node_id,
                                         const UsageSettlement& settlement, TimeMs now);
  Result<std::optional<Project>> FindProjectWhere(const std::string& where,
                                                  const std::string& organization_id,
                                                  const std::string& value);

  struct QueuedToken {
    TokenInsert insert;
    TokenInsertDone done;
  };

  const std::string path_;
  std::mutex token_queue_mutex_;
  std::condition_variable token_queued_;
  std::vector<QueuedToken> token_queue_;  // guarded by token_queue_mutex_
  bool closing_ = false;                  // guarded by token_queue_mutex_
  std::size_t gather_target_ = 0;         // queue size that wakes the writer; guarded likewise
  std::timed_mutex write_mutex_;
  sqlite::Database db_;  // the writer; guarded by write_mutex_
  sqlite::ReaderPool readers_;
  TokenNameIndex name_index_;  // token names for SearchTokens
  std::atomic<NameIndexUse> name_index_use_ = NameIndexUse::kWhenCheaper;
  std::unique_ptr<sqlite::Checkpointer> checkpointer_;  // copies db_'s commits back
  std::thread token_writer_;                            // runs WriteQueuedTokens
};

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_SQLITE_SQLITE_STORE_H_
