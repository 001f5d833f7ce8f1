#ifndef GATEHOUSE_STORE_POSTGRES_PG_STORE_H_
#define GATEHOUSE_STORE_POSTGRES_PG_STORE_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "store/postgres/pg_pool.h"
#include "store/store.h"
#include "store/token_name_index.h"

namespace gatehouse {

// The Store on PostgreSQL (docs/architecture.md "PostgreSQL"): several stateless nodes share
// one database. libpq is used blocking, on small pools of connections leased by the threads
// that already run store calls (the blocking pool, the request log's writer, maintenance and
// the CLI), never by an event loop.
class PgStore final : public Store {
 public:
  struct Options {
    std::string url;
    std::size_t connections = 10;  // the general pool: management calls and searches
    // Request cursors and export parts: each lease lasts one page's statement.
    std::size_t export_connections = 6;
  };

  // Connects and applies pending migrations (advisory-locked, so nodes starting together apply
  // each once). Throws std::runtime_error naming the store with its password hidden (start-up).
  explicit PgStore(Options options);
  ~PgStore() override;

  // Whether name searches use the in-memory name index once it is loaded (the default) or
  // pg_trgm alone (tests and `bench` compare the two).
  void UseNameIndex(bool use) { use_name_index_ = use; }

  // Creates the monthly partitions of `requests` around `now` (maintenance calls it daily).
  Status EnsureRequestPartitions(TimeMs now);

  Status Ping() override;
  // kChangeMarkSql (pg_change_mark.h).
  Result<TimeMs> ChangeMark(TimeMs node_now) override;
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

  // `done` runs on the token writer thread.
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
  Result<std::unique_ptr<TokenCursor>> OpenProjectTokens(const std::string& organization_id,
                                                         const std::string& project_id,
                                                         std::int64_t page_rows) override;
  Status DiscardSealedSecrets() override;
  Result<std::vector<std::pair<std::string, TimeMs>>> RecordLastUsed(
      const std::vector<std::pair<std::string, TimeMs>>& uses) override;
  Status ForEachTokenChangedSince(
      TimeMs since,
      const std::function<void(const ApiToken&, const TokenCredential&)>& visit) override;
  Status ForEachLiveToken(
      const std::function<void(const ApiToken&, const TokenCredential&)>& visit) override;
  Result<std::int64_t> CountLiveTokens() override;
  // LISTENs on a connection of its own, on a thread started by the first call.
  void WatchChanges(std::function<void(StoreChange)> on_change) override;

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
  // A connection of the general pool (kStoreBusy past the write budget, kStoreUnavailable
  // while the database is unreachable).
  Result<pg::ConnectionPool::Lease> Lease() { return pool_.Acquire(); }

  // pg_store.cc
  Status InsertProjectIn(pg::Connection& c, const Project& project, const ApiToken& token,
                         const TokenCredential& credential);
  Result<std::optional<Organization>> FindOrganizationWhere(const char* where,
                                                            const std::string& value);
  Result<std::optional<Project>> FindProjectWhere(const char* where,
                                                  const std::string& organization_id,
                                                  const std::string& value);

  // pg_store_tokens.cc
  Status InsertTokenIn(pg::Connection& c, const ApiToken& token, const TokenCredential& credential);
  static Result<std::optional<ApiToken>> FindTokenIn(pg::Connection& c,
                                                     const std::string& organization_id,
                                                     const std::string& token_id, bool for_update);
  void WriteQueuedTokens();
  std::vector<Status> StoreTokenBatch(const std::vector<TokenInsert*>& batch);
  // Stores the batch in one transaction; the ids of those stored (the others' names exist).
  // What an insert of tokens stored: their ids, and the projects that took none of theirs
  // because they are not live.
  struct StoredTokens {
    std::unordered_set<std::string> ids;
    std::unordered_set<std::string> gone_projects;
  };
  Result<StoredTokens> StoreTokensIn(const std::vector<TokenInsert*>& batch);
  Status GoneProjectsIn(pg::Connection& c,
                        const std::vector<std::pair<ApiToken, TokenCredential>>& rows,
                        StoredTokens& stored);
  static Status OutcomeOf(const StoredTokens& stored, const ApiToken& token);
  // Tells every node's WatchChanges, at the commit of the caller's transaction.
  static Status NotifyChange(pg::Connection& c, StoreChange change = StoreChange::kTokens);
  // The LISTEN thread: reconnects after a lost connection and then reports a change, since
  // notifications sent meanwhile are lost.
  void ListenForChanges();

  // pg_token_search.cc
  // Brings name_index_ up to date through `c` (see TokenNameIndex::Sync).
  Result<bool> SyncNameIndex(pg::Connection& c);
  // A name search answered from name_index_ (loaded).
  Result<TokenPage> SearchByNameIndex(pg::Connection& c, const TokenQuery& query);
  // Reads into `page` the tokens that pass the query's filters (and are among `seqs`, if
  // given), in the query's order, with its LIMIT and OFFSET when `paged`.
  static Result<TokenPage> ReadPage(pg::Connection& c, const TokenQuery& query,
                                    const std::vector<std::int64_t>* seqs, bool paged,
                                    TokenPage page);

  // pg_store_governance.cc
  Status AppendAuditIn(pg::Connection& c, const AuditEntry& entry);
  Status AppendAuditsIn(pg::Connection& c, const std::vector<const AuditEntry*>& entries);
  Status InsertUsageLimitIn(pg::Connection& c, const UsageLimit& limit);
  Status WriteUsageLimitIn(pg::Connection& c, const UsageLimit& limit);
  Result<SettledUsage> SettleUsageIn(pg::Connection& c, const std::string& node_id,
                                     const UsageSettlement& settlement, TimeMs now);
  Status InsertRevisionIn(pg::Connection& c, const Assistant& assistant);

  // pg_store_usage.cc
  // Adds newly stored records to the usage rollups (by hour and by day) in the caller's
  // transaction on `c`.
  Status RollUpIn(pg::Connection& c, const std::vector<const RequestRecord*>& records);

  struct QueuedToken {
    TokenInsert insert;
    TokenInsertDone done;
  };

  const Options options_;
  pg::ConnectionPool pool_;
  pg::ConnectionPool exports_;
  pg::ConnectionPool writer_;   // the token writer's connection (group commit)
  pg::ConnectionPool records_;  // the request log's connection: management load never starves it
  std::mutex token_queue_mutex_;
  std::condition_variable token_queued_;
  std::vector<QueuedToken> token_queue_;        // guarded by token_queue_mutex_
  bool closing_ = false;                        // guarded by token_queue_mutex_
  std::thread token_writer_;                    // runs WriteQueuedTokens
  std::mutex watch_mutex_;                      // held while on_change_ runs or changes
  std::function<void(StoreChange)> on_change_;  // guarded by watch_mutex_
  int listen_stop_fd_ = -1;                     // an eventfd that ends the LISTEN thread
  std::thread listener_;                        // runs ListenForChanges once watched
  TokenNameIndex name_index_;                   // token names for SearchTokens
  std::atomic<bool> use_name_index_ = true;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_STORE_POSTGRES_PG_STORE_H_
