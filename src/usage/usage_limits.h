#ifndef GATEHOUSE_USAGE_USAGE_LIMITS_H_
#define GATEHOUSE_USAGE_USAGE_LIMITS_H_

#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "core/usage_limit.h"
#include "store/store.h"
#include "usage/request_log.h"

namespace gatehouse {

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

// Receives crossings off the request path (from UsageLimits::Flush); implementations must not
// block for long (the webhook sender queues).
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
// counter, so that admitting and charging a call never reads the store; counters, statuses and
// crossings are persisted by Flush() (called about once a second and at shutdown) and read back
// by Load(), so usage survives a restart. Thread-safe; `store` and `clock` must outlive it.
//
// Counting: a call that runs a model counts 1 against Requests limits when it is admitted
// (Admit), so a Requests limit is exact even under concurrency; its cost counts against Cost
// limits when its record is produced (OnRecord: every record goes through the request log,
// streamed or not). A refused call counts nothing.
class UsageLimits final : public RequestObserver {
 public:
  UsageLimits(Store& store, const Clock& clock, LimitNotifier* notifier = nullptr);
  UsageLimits(const UsageLimits&) = delete;
  UsageLimits& operator=(const UsageLimits&) = delete;

  void set_notifier(LimitNotifier* notifier) { notifier_ = notifier; }

  // Reads every current limit from the store (start-up).
  Status Load();

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

  // Hot path: 429 id 154 when the project's or the organization's current limit has reached its
  // hard limit; otherwise counts the call against Requests limits.
  Status Admit(const std::string& organization_id, const std::string& project_id);
  // Counts a produced record's cost against Cost limits.
  void OnRecord(const RequestRecord& record) override;

  // Rolls periods, persists changed counters and crossings (audit events in the same
  // transaction), then hands the crossings to the notifier.
  Status Flush();

 private:
  struct Counter {
    std::mutex mutex;
    UsageLimit limit;    // guarded by mutex
    bool dirty = false;  // guarded by mutex
  };

  static std::string KeyOf(const std::string& organization_id, const std::string& project_id);
  std::shared_ptr<Counter> CounterFor(const std::string& key) const;
  // Requires counter.mutex held. Adds `amount` and queues the crossings it causes.
  void AddLocked(Counter& counter, double amount, TimeMs now);
  // Requires counter.mutex held.
  void RollLocked(Counter& counter, TimeMs now);
  // The live state of `limit` when it is tracked.
  void Overlay(UsageLimit& limit);
  // Requires write_mutex_ held.
  Status FlushLocked();
  Result<UsageLimit> FindOwned(const std::string& organization_id, const std::string& project_id,
                               const std::string& limit_id);

  Store& store_;
  const Clock& clock_;
  LimitNotifier* notifier_;

  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Counter>> counters_;  // guarded by mutex_

  // Serializes every write of limits to the store (management changes and flushes), so that a
  // flush never stores a snapshot older than a change made meanwhile.
  std::mutex write_mutex_;

  std::mutex pending_mutex_;
  std::vector<LimitNotice> pending_;  // guarded by pending_mutex_
};

}  // namespace gatehouse

#endif  // GATEHOUSE_USAGE_USAGE_LIMITS_H_
