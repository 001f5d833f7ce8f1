#ifndef GATEHOUSE_USAGE_USAGE_LIMITS_H_
#define GATEHOUSE_USAGE_USAGE_LIMITS_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/usage_limit.h"
#include "core/usage_slice.h"
#include "store/store.h"
#include "usage/request_log.h"

namespace gatehouse {

class AuditDetails;

// The writable fields of a limit (API.md §7), already validated.
struct UsageLimitSpec {
  SubscriptionType subscription = SubscriptionType::kMonthly;
  UsageUnit unit = UsageUnit::kRequests;
  double soft_limit = 0;
  double hard_limit = 0;
  RenewalStatus renewal = RenewalStatus::kRenewable;
};

// A change of one limit (PUT .../hardLimit, /softLimit, /renewalStatus).
struct UsageLimitChange {
  std::optional<double> soft_limit;
  std::optional<double> hard_limit;
  std::optional<RenewalStatus> renewal;
};

// A soft or hard limit crossed, as the audit trail, the log and the webhook announce it.
struct LimitNotice {
  std::string action;  // "limit.soft_crossed" | "limit.hard_crossed"
  UsageLimit limit;    // as it was right after the crossing
  std::string entity_name;
  TimeMs at = 0;
};

// Receives crossings off the request path (from UsageLimits::Flush, once per period whichever
// node saw them); implementations must not block for long (the webhook sender queues).
class LimitNotifier {
 public:
  virtual ~LimitNotifier() = default;
  virtual void Notify(const LimitNotice& notice) = 0;
};

// The limit that a new limit would have (for a project created together with its limit).
UsageLimit NewUsageLimit(const std::string& organization_id, const std::string& project_id,
                         const UsageLimitSpec& spec, TimeMs now);

// Usage limits of projects and organizations (API.md §7): their management and their
// enforcement. The current limit of every project and organization is held in memory with its
// counter, so that admitting and charging a call never reads the store. Thread-safe; `store`
// and `clock` must outlive it.
//
// Counting: a call that runs a model counts 1 against Requests limits when it is admitted
// (Admit); its cost counts against Cost limits when its record is produced (OnRecord: every
// record goes through the request log, streamed or not). A refused call counts nothing.
//
// Several nodes (docs/architecture.md "Usage limits across nodes"): each node spends a slice of
// a hard limit's budget reserved in the store (core/usage_slice.h) and admits past it only on
// UsageCredit while the store last said budget remains (or while a settlement gives back budget
// this node held), so that N nodes exceed a hard limit by
// at most N × UsageCredit (plus, for Cost, the cost of calls in flight). Settlement (Flush, about
// once a second on a thread of its own after StartSettling, sooner when a slice runs low) adds
// this node's usage to the stored count, reads back every node's usage, renews the slice and
// claims soft and hard crossings, which it then hands to the notifier. One node alone holds
// the whole remaining budget, so on its own (SQLite) it refuses exactly at the hard limit.
class UsageLimits final : public RequestObserver {
 public:
  // `node_id` names this node's slices in the store: the same across restarts of one node
  // (so that a restarted node takes its slices back), different between nodes.
  UsageLimits(Store& store, const Clock& clock, LimitNotifier* notifier = nullptr,
              std::string node_id = "local");
  // Stops settling (without the final settlement: call StopSettling for that).
  ~UsageLimits() override;
  UsageLimits(const UsageLimits&) = delete;
  UsageLimits& operator=(const UsageLimits&) = delete;

  void set_notifier(LimitNotifier* notifier) { notifier_ = notifier; }

  // Reads every current limit from the store and takes this node's slices (start-up).
  Status Load();
  // Settles every `interval` on a thread of its own, and soon after a slice runs low; each
  // round also picks up limits created, changed or cancelled on other nodes.
  void StartSettling(std::chrono::milliseconds interval);
  // Stops that thread and settles a last time, giving every slice back (shutdown).
  Status StopSettling();

  // Management. `project_id` empty = the organization's own limit; the caller has checked that
  // the project exists in the organization. Limit ids of another owner are 404
  // (kUsageLimitNotFound).
  Result<UsageLimit> Create(const std::string& organization_id, const std::string& project_id,
                            const std::string& entity_name, const UsageLimitSpec& spec,
                            const AuditActor& actor);
  // Starts tracking a limit already stored (created together with its project).
  void Track(const UsageLimit& limit);
  // Newest first, with live counters.
  Result<std::vector<UsageLimit>> List(const std::string& organization_id,
                                       const std::string& project_id);
  // The newest limit whatever its status; 404 when there is none.
  Result<UsageLimit> Latest(const std::string& organization_id, const std::string& project_id);
  // The current (Active or Empty) limit; 404 when there is none.
  Result<UsageLimit> Current(const std::string& organization_id, const std::string& project_id);
  // The current limit or nullopt, from memory only.
  std::optional<UsageLimit> CurrentIfAny(const std::string& organization_id,
                                         const std::string& project_id);
  Result<UsageLimit> Change(const std::string& organization_id, const std::string& project_id,
                            const std::string& limit_id, const std::string& entity_name,
                            const UsageLimitChange& change, const AuditActor& actor);
  Result<UsageLimit> Cancel(const std::string& organization_id, const std::string& project_id,
                            const std::string& limit_id, const std::string& entity_name,
                            const AuditActor& actor);
  // Forgets the project's limit (the store cancelled it with the project).
  void ForgetProject(const std::string& organization_id, const std::string& project_id);

  // Hot path, memory only: 429 id 154 when the project's or the organization's current limit
  // may not spend more here (its slice is spent and the store said nothing is left, or the
  // credit is spent too); otherwise counts the call against Requests limits.
  Status Admit(const std::string& organization_id, const std::string& project_id);
  // Counts a produced record's cost against Cost limits.
  void OnRecord(const RequestRecord& record) override;

  // One round of settling, now: picks up limits created, changed or ended on other nodes, adds
  // what was counted here to the store's counts, reads back every node's usage, renews slices,
  // stores crossings (audit events in the same transaction), then hands the crossings to the
  // notifier.
  Status Flush();

 private:
  struct Counter {
    std::mutex mutex;
    // All guarded by mutex.
    UsageLimit limit;         // the store's limit at the last settlement, rolled, plus `unsettled`
    double unsettled = 0;     // counted here since the last snapshot for a settlement
    TimeMs unsettled_in = 0;  // the period (valid_from) `unsettled` was counted in
    double available = 0;     // what this node may still spend of its slice
    double credit = 0;        // spent past the slice since the last settlement
    bool exhausted = false;   // the store said nothing is unreserved at the last settlement
    double granted = 0;       // the slice at the last settlement (a refill is due at half)
    bool settling = false;    // a settlement of this counter is waiting for the store
    // What that settlement took out of `available` for the store to take back: this node's own
    // budget, so calls meanwhile may spend their credit even when the store last said nothing
    // was unreserved (which counted this very budget as reserved).
    double taken_in_flight = 0;
    double credit_in_flight = 0;  // credit spent while settling: the answer takes it out again
    // The last settlement found no other node holding or asking for a slice of the limit: the
    // next one keeps the whole slice in the node's hands (see SettleLocked).
    bool alone = false;
    std::chrono::steady_clock::time_point settled_at{};  // the last settlement; {} = none
    std::chrono::steady_clock::time_point snapshot_at{};
    double demand = 0;  // asked for (admitted or refused) since the last snapshot
    std::optional<std::chrono::steady_clock::time_point> asked_at;  // the last demand
    bool needs_settling = true;              // tracked, changed or found changed elsewhere
    bool ended = false;                      // a settlement found the limit no longer current
    std::vector<LimitCrossingClaim> claims;  // crossings seen here, to be claimed
    std::vector<LimitNotice> notices;        // the notice of each claim
  };

  // The actions of a crossing's notice and audit entry.
  static constexpr const char* kSoftCrossed = "limit.soft_crossed";
  static constexpr const char* kHardCrossed = "limit.hard_crossed";

  // Requires the counter's lock. Drops the crossings not yet claimed that the limit's bounds, as
  // changed, no longer make (counted against the old ones while the change was being stored),
  // so that the period's real crossing of the new bound is announced instead.
  void ForgetCrossingsNotMade(Counter& counter);

  static std::string KeyOf(const std::string& organization_id, const std::string& project_id);
  // The audit entry of `action` on `limit`.
  static AuditEntry LimitAudit(const AuditActor& actor, const UsageLimit& limit, std::string action,
                               const std::string& entity_name, TimeMs at,
                               const AuditDetails& details);
  std::shared_ptr<Counter> CounterFor(const std::string& key) const;
  // Requires write_mutex_ held. Starts tracking `limits`, each replacing what was tracked for
  // its owner: settles them first and only then lets calls see them, so that no call meets a
  // counter that holds no slice yet (it would spend the credit and then be refused). A limit
  // the settlement finds ended is not tracked; one whose settlement fails is, and settles at the
  // next round.
  Status TrackLocked(const std::vector<UsageLimit>& limits);
  // Requires counter.mutex held. Adds `amount` spent (charged to the slice, else to the
  // credit) and queues the crossings it causes.
  void AddLocked(Counter& counter, double amount, TimeMs now);
  // Requires counter.mutex held. Whether the counter may spend more now (and notes the demand).
  bool MaySpendLocked(Counter& counter, TimeMs now);
  // Requires counter.mutex held.
  void RollLocked(Counter& counter, TimeMs now);
  // The live state of `limit` when it is tracked.
  void Overlay(UsageLimit& limit);
  // Settlement (usage_settlement.cc). Requires write_mutex_ held. Settles `counters` (every tracked
  // one when empty and `all`); `release` gives every slice back.
  Status SettleLocked(std::vector<std::shared_ptr<Counter>> counters, bool all, bool release);
  // Requires counter.mutex held: its settlement has its answer (or failed).
  static void EndSettlingLocked(Counter& counter);
  // Requires write_mutex_ held. Tracks limits created on other nodes and notes the ones
  // changed or ended there.
  Status ReconcileLocked();
  Result<UsageLimit> FindOwned(const std::string& organization_id, const std::string& project_id,
                               const std::string& limit_id);
  // Wakes the settling thread (never blocks: called on event loops).
  void WakeSettler();
  void RunSettler(std::chrono::milliseconds interval);

  Store& store_;
  const Clock& clock_;
  LimitNotifier* notifier_;
  const std::string node_id_;

  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Counter>> counters_;  // guarded by mutex_

  // Serializes every write of limits to the store (management changes and settlements), so
  // that a settlement never races a change made meanwhile.
  std::mutex write_mutex_;
  int rounds_ = 0;  // guarded by write_mutex_: settlements so far (idle slices are checked
                    // every few rounds)

  std::atomic<bool> wake_pending_{false};
  std::counting_semaphore<4> wake_{0};
  std::atomic<bool> stopping_{false};
  std::thread settler_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_USAGE_LIMITS_H_
