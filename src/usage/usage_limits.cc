#include "usage/usage_limits.h"

#include <spdlog/spdlog.h>

#include "core/audit_details.h"
#include "core/ids.h"

namespace gatehouse {

AuditEntry UsageLimits::LimitAudit(const AuditActor& actor, const UsageLimit& limit,
                                   std::string action, const std::string& entity_name, TimeMs at,
                                   const AuditDetails& details) {
  return MakeAuditEntry(actor, limit.organization_id, std::move(action), "limit", limit.id,
                        entity_name, at, details.empty() ? std::string() : details.Json());
}

UsageLimit NewUsageLimit(const std::string& organization_id, const std::string& project_id,
                         const UsageLimitSpec& spec, TimeMs now) {
  UsageLimit limit;
  limit.id = NewUuid();
  limit.organization_id = organization_id;
  limit.project_id = project_id;
  limit.subscription = spec.subscription;
  limit.unit = spec.unit;
  limit.soft_limit = spec.soft_limit;
  limit.hard_limit = spec.hard_limit;
  limit.renewal = spec.renewal;
  StartUsageLimit(limit, now);
  return limit;
}

UsageLimits::UsageLimits(Store& store, const Clock& clock, LimitNotifier* notifier,
                         std::string node_id)
    : store_(store), clock_(clock), notifier_(notifier), node_id_(std::move(node_id)) {}

UsageLimits::~UsageLimits() {
  if (!settler_.joinable()) return;
  stopping_.store(true);
  wake_.release();
  settler_.join();
}

std::string UsageLimits::KeyOf(const std::string& organization_id, const std::string& project_id) {
  return organization_id + "/" + project_id;
}

std::shared_ptr<UsageLimits::Counter> UsageLimits::CounterFor(const std::string& key) const {
  std::shared_lock lock(mutex_);
  auto found = counters_.find(key);
  return found == counters_.end() ? nullptr : found->second;
}

Status UsageLimits::TrackLocked(const std::vector<UsageLimit>& limits) {
  if (limits.empty()) return {};
  std::vector<std::shared_ptr<Counter>> counters;
  counters.reserve(limits.size());
  for (const auto& limit : limits) {
    // Tracked already (the settling thread found it in the store before its creator tracked
    // it): that counter holds the calls counted since, and its slice. Only TrackLocked adds
    // counters, and write_mutex_ keeps it from running twice at once.
    if (const auto tracked = CounterFor(KeyOf(limit.organization_id, limit.project_id));
        tracked && tracked->limit.id == limit.id) {
      continue;
    }
    auto counter = std::make_shared<Counter>();
    counter->limit = limit;
    counter->unsettled_in = limit.valid_from;
    counters.push_back(std::move(counter));
  }
  Status settled = SettleLocked(counters, false, false);
  std::unique_lock lock(mutex_);
  for (const auto& counter : counters) {
    std::lock_guard counter_lock(counter->mutex);
    if (counter->ended) continue;
    counters_[KeyOf(counter->limit.organization_id, counter->limit.project_id)] = counter;
  }
  return settled;
}

Status UsageLimits::Load() {
  auto limits = store_.ListCurrentUsageLimits();
  if (!limits) return std::unexpected(limits.error());
  std::lock_guard write(write_mutex_);
  return TrackLocked(*limits);
}

void UsageLimits::Track(const UsageLimit& limit) {
  std::lock_guard write(write_mutex_);
  if (auto settled = TrackLocked({limit}); !settled) {
    spdlog::error("usage limit {}: first settlement failed: {}", limit.id,
                  settled.error().internal);
  }
}

void UsageLimits::ForgetProject(const std::string& organization_id, const std::string& project_id) {
  std::unique_lock lock(mutex_);
  counters_.erase(KeyOf(organization_id, project_id));
}

void UsageLimits::RollLocked(Counter& counter, TimeMs now) {
  const TimeMs period = counter.limit.valid_from;
  if (!RollUsageLimit(counter.limit, now)) return;
  counter.needs_settling = true;
  if (counter.limit.valid_from != period) {
    // A new period: what was counted in the last one is closed (the store drops it too). The
    // slice stays this node's: the store keeps slices across periods.
    counter.unsettled = 0;
    counter.unsettled_in = counter.limit.valid_from;
    // Credit is for a node holding no slice. One still held spends first (alone on the limit,
    // it may be the whole budget, so a credit past it would admit one call too many).
    if (counter.available <= 0) counter.exhausted = false;
    counter.credit = 0;
  }
}

void UsageLimits::AddLocked(Counter& counter, double amount, TimeMs now) {
  UsageLimit& limit = counter.limit;
  limit.used += amount;
  limit.updated_at = now;
  counter.unsettled += amount;
  const bool lapsed = counter.settled_at == std::chrono::steady_clock::time_point{} ||
                      std::chrono::steady_clock::now() - counter.settled_at >
                          std::chrono::milliseconds(kSliceLifetimeMs / 2);
  if (!lapsed && counter.available > 0) {
    counter.available -= amount;
    if (counter.available < counter.granted / 2) WakeSettler();
  } else {
    counter.credit += amount;
    if (counter.settling) counter.credit_in_flight += amount;
    WakeSettler();
  }
  std::vector<LimitNotice> crossed;
  if (limit.soft_limit > 0 && limit.used >= limit.soft_limit &&
      limit.soft_crossed_in != limit.valid_from) {
    limit.soft_crossed_in = limit.valid_from;
    counter.claims.push_back(LimitCrossingClaim{false, limit.valid_from, {}});
    counter.notices.push_back(LimitNotice{kSoftCrossed, limit, {}, now});
  }
  SettleUsageLimitStatus(limit);
  if (limit.status == LimitStatus::kEmpty && limit.hard_crossed_in != limit.valid_from) {
    limit.hard_crossed_in = limit.valid_from;
    counter.claims.push_back(LimitCrossingClaim{true, limit.valid_from, {}});
    counter.notices.push_back(LimitNotice{kHardCrossed, limit, {}, now});
  }
}

void UsageLimits::ForgetCrossingsNotMade(Counter& counter) {
  UsageLimit& limit = counter.limit;
  // As AddLocked judges them: the hard bound by the limit's status, the soft one by its value.
  const auto made = [&limit](bool hard) {
    if (hard) return limit.status == LimitStatus::kEmpty;
    return limit.soft_limit > 0 && limit.used >= limit.soft_limit;
  };
  for (std::size_t i = counter.claims.size(); i-- > 0;) {
    const LimitCrossingClaim& claim = counter.claims[i];
    if (claim.period != limit.valid_from || made(claim.hard)) continue;
    (claim.hard ? limit.hard_crossed_in : limit.soft_crossed_in).reset();
    counter.claims.erase(counter.claims.begin() + static_cast<std::ptrdiff_t>(i));
    counter.notices.erase(counter.notices.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

bool UsageLimits::MaySpendLocked(Counter& counter, TimeMs now) {
  RollLocked(counter, now);
  if (!counter.limit.IsCurrent()) return true;
  const auto steady = std::chrono::steady_clock::now();
  counter.asked_at = steady;
  const bool lapsed = counter.settled_at == std::chrono::steady_clock::time_point{} ||
                      steady - counter.settled_at > std::chrono::milliseconds(kSliceLifetimeMs / 2);
  if (!lapsed && counter.available > 0) return true;
  if ((!counter.exhausted || counter.taken_in_flight > 0) &&
      counter.credit < UsageCredit(counter.limit)) {
    return true;
  }
  WakeSettler();  // a refusal: the store may know better (budget given back, limit raised)
  return false;
}

Status UsageLimits::Admit(const std::string& organization_id, const std::string& project_id) {
  std::shared_ptr<Counter> project;
  std::shared_ptr<Counter> organization;
  {
    std::shared_lock lock(mutex_);
    if (counters_.empty()) return {};
    if (auto found = counters_.find(KeyOf(organization_id, project_id)); found != counters_.end()) {
      project = found->second;
    }
    if (auto found = counters_.find(KeyOf(organization_id, {})); found != counters_.end()) {
      organization = found->second;
    }
  }
  if (!project && !organization) return {};
  const TimeMs now = clock_.Now();
  // Always project before organization, so two calls never wait on each other in a cycle.
  std::unique_lock<std::mutex> project_lock;
  std::unique_lock<std::mutex> organization_lock;
  if (project) project_lock = std::unique_lock(project->mutex);
  if (organization) organization_lock = std::unique_lock(organization->mutex);
  for (Counter* counter : {project.get(), organization.get()}) {
    if (!counter) continue;
    if (counter->limit.IsCurrent() && counter->limit.unit == UsageUnit::kRequests) {
      counter->demand += 1;
    }
  }
  for (Counter* counter : {project.get(), organization.get()}) {
    if (counter && !MaySpendLocked(*counter, now)) {
      return Fail(ErrorCode::kQuotaExceeded, {}, "usage limit " + counter->limit.id + " reached");
    }
  }
  for (Counter* counter : {project.get(), organization.get()}) {
    if (counter && counter->limit.IsCurrent() && counter->limit.unit == UsageUnit::kRequests) {
      AddLocked(*counter, 1, now);
    }
  }
  return {};
}

void UsageLimits::OnRecord(const RequestRecord& record) {
  if (record.cost <= 0) return;
  {
    std::shared_lock lock(mutex_);
    if (counters_.empty()) return;
  }
  const TimeMs now = clock_.Now();
  for (const std::string* project_id :
       {&record.project_id, static_cast<const std::string*>(nullptr)}) {
    auto counter =
        CounterFor(KeyOf(record.organization_id, project_id ? *project_id : std::string()));
    if (!counter) continue;
    std::lock_guard lock(counter->mutex);
    RollLocked(*counter, now);
    if (counter->limit.IsCurrent() && counter->limit.unit == UsageUnit::kCost) {
      counter->demand += record.cost;
      counter->asked_at = std::chrono::steady_clock::now();
      AddLocked(*counter, record.cost, now);
    }
  }
}

void UsageLimits::Overlay(UsageLimit& limit) {
  auto counter = CounterFor(KeyOf(limit.organization_id, limit.project_id));
  if (!counter) return;
  std::lock_guard lock(counter->mutex);
  RollLocked(*counter, clock_.Now());
  if (counter->limit.id == limit.id) limit = counter->limit;
}

Result<UsageLimit> UsageLimits::Create(const std::string& organization_id,
                                       const std::string& project_id,
                                       const std::string& entity_name, const UsageLimitSpec& spec,
                                       const AuditActor& actor) {
  std::lock_guard write(write_mutex_);
  // A current limit that has just expired in memory must be stored as such before a new one
  // can take its place.
  if (auto flushed = SettleLocked({}, true, false); !flushed) {
    return std::unexpected(flushed.error());
  }
  const TimeMs now = clock_.Now();
  UsageLimit limit = NewUsageLimit(organization_id, project_id, spec, now);
  AuditDetails details;
  details.Set("subscriptionType", ToString(limit.subscription));
  details.Set("usageUnit", ToString(limit.unit));
  details.Set("softLimit", limit.soft_limit);
  details.Set("hardLimit", limit.hard_limit);
  details.Set("renewalStatus", ToString(limit.renewal));
  const AuditEntry audit = LimitAudit(actor, limit, "limit.create", entity_name, now, details);
  if (auto stored = store_.InsertUsageLimit(limit, &audit); !stored) {
    return std::unexpected(stored.error());
  }
  if (auto settled = TrackLocked({limit}); !settled) {
    spdlog::error("usage limit {}: first settlement failed: {}", limit.id,
                  settled.error().internal);
  }
  return limit;
}

Result<std::vector<UsageLimit>> UsageLimits::List(const std::string& organization_id,
                                                  const std::string& project_id) {
  auto limits = store_.ListUsageLimits(organization_id, project_id);
  if (!limits) return limits;
  for (auto& limit : *limits) Overlay(limit);
  return limits;
}

Result<UsageLimit> UsageLimits::Latest(const std::string& organization_id,
                                       const std::string& project_id) {
  auto limits = List(organization_id, project_id);
  if (!limits) return std::unexpected(limits.error());
  if (limits->empty()) return Fail(ErrorCode::kUsageLimitNotFound);
  return std::move(limits->front());
}

std::optional<UsageLimit> UsageLimits::CurrentIfAny(const std::string& organization_id,
                                                    const std::string& project_id) {
  auto counter = CounterFor(KeyOf(organization_id, project_id));
  if (!counter) return std::nullopt;
  std::lock_guard lock(counter->mutex);
  RollLocked(*counter, clock_.Now());
  if (!counter->limit.IsCurrent()) return std::nullopt;
  return counter->limit;
}

Result<UsageLimit> UsageLimits::Current(const std::string& organization_id,
                                        const std::string& project_id) {
  auto current = CurrentIfAny(organization_id, project_id);
  if (!current) return Fail(ErrorCode::kUsageLimitNotFound);
  return std::move(*current);
}

Result<UsageLimit> UsageLimits::FindOwned(const std::string& organization_id,
                                          const std::string& project_id,
                                          const std::string& limit_id) {
  auto found = store_.FindUsageLimit(organization_id, limit_id);
  if (!found) return std::unexpected(found.error());
  // A limit of another project (or of the organization on a project path) is not found there.
  if (!*found || (*found)->project_id != project_id) return Fail(ErrorCode::kUsageLimitNotFound);
  Overlay(**found);
  return std::move(**found);
}

namespace {

// The soft limit never exceeds the hard one (400 id 8 on the field the change set), checked
// against the limit as the change leaves it, under the write lock: two changes at once (one of
// each) cannot both pass against the old values.
Status KeepsSoftUnderHard(const UsageLimit& after, const UsageLimitChange& change) {
  if (after.soft_limit <= after.hard_limit) return {};
  return Fail(ErrorCode::kOutOfRange, change.soft_limit ? "softLimit" : "hardLimit");
}

}  // namespace

Result<UsageLimit> UsageLimits::Change(const std::string& organization_id,
                                       const std::string& project_id, const std::string& limit_id,
                                       const std::string& entity_name,
                                       const UsageLimitChange& change, const AuditActor& actor) {
  std::lock_guard write(write_mutex_);
  auto limit = FindOwned(organization_id, project_id, limit_id);
  if (!limit) return limit;
  const TimeMs now = clock_.Now();
  auto apply = [&](UsageLimit& target, AuditDetails* details) {
    if (change.soft_limit) {
      if (details) details->Change("softLimit", target.soft_limit, *change.soft_limit);
      target.soft_limit = *change.soft_limit;
    }
    if (change.hard_limit) {
      if (details) details->Change("hardLimit", target.hard_limit, *change.hard_limit);
      target.hard_limit = *change.hard_limit;
    }
    if (change.renewal) {
      if (details) {
        details->Change("renewalStatus", ToString(target.renewal), ToString(*change.renewal));
      }
      target.renewal = *change.renewal;
    }
    target.updated_at = now;
    SettleUsageLimitStatus(target);
  };
  auto counter = CounterFor(KeyOf(organization_id, project_id));
  AuditDetails details;
  UsageLimit after;
  if (counter) {
    // The event loops take a counter's lock for every call (Admit, OnRecord): it is never held
    // while the store writes. write_mutex_ orders the writers; what calls count meanwhile stays.
    std::unique_lock lock(counter->mutex);
    if (counter->limit.id == limit_id) {
      after = counter->limit;
      lock.unlock();
      apply(after, &details);
      if (auto kept = KeepsSoftUnderHard(after, change); !kept)
        return std::unexpected(kept.error());
      const AuditEntry audit = LimitAudit(actor, after, "limit.update", entity_name, now, details);
      if (auto stored = store_.UpdateUsageLimit(after, &audit); !stored) {
        return std::unexpected(stored.error());
      }
      lock.lock();
      apply(counter->limit, nullptr);
      ForgetCrossingsNotMade(*counter);
      counter->exhausted = false;
      counter->needs_settling = true;
      after = counter->limit;
      lock.unlock();
      // The slice follows the new hard limit at once.
      if (auto settled = SettleLocked({counter}, false, false); !settled) {
        spdlog::error("usage limit {}: settlement after a change failed: {}", limit_id,
                      settled.error().internal);
      }
      return after;
    }
  }
  after = *limit;
  apply(after, &details);
  if (auto kept = KeepsSoftUnderHard(after, change); !kept) return std::unexpected(kept.error());
  const AuditEntry audit = LimitAudit(actor, after, "limit.update", entity_name, now, details);
  if (auto stored = store_.UpdateUsageLimit(after, &audit); !stored) {
    return std::unexpected(stored.error());
  }
  return after;
}

Result<UsageLimit> UsageLimits::Cancel(const std::string& organization_id,
                                       const std::string& project_id, const std::string& limit_id,
                                       const std::string& entity_name, const AuditActor& actor) {
  std::lock_guard write(write_mutex_);
  auto limit = FindOwned(organization_id, project_id, limit_id);
  if (!limit) return limit;
  const TimeMs now = clock_.Now();
  auto counter = CounterFor(KeyOf(organization_id, project_id));
  bool counted = false;  // the counter in memory is this limit's
  if (counter) {
    // Never held across the store's write (see Change).
    std::lock_guard lock(counter->mutex);
    counted = counter->limit.id == limit_id;
    if (counted) *limit = counter->limit;
  }
  if (limit->status == LimitStatus::kCancelled) return limit;
  AuditDetails details;
  details.Change("status", static_cast<int>(limit->status),
                 static_cast<int>(LimitStatus::kCancelled));
  limit->status = LimitStatus::kCancelled;
  limit->updated_at = now;
  const AuditEntry audit = LimitAudit(actor, *limit, "limit.cancel", entity_name, now, details);
  if (auto stored = store_.UpdateUsageLimit(*limit, &audit); !stored) {
    return std::unexpected(stored.error());
  }
  if (counted) {
    {
      std::lock_guard lock(counter->mutex);
      counter->limit.status = LimitStatus::kCancelled;
      counter->limit.updated_at = now;
    }
    // Settles what was counted and gives the slice back; the counter then leaves memory.
    if (auto settled = SettleLocked({counter}, false, true); !settled) {
      spdlog::error("usage limit {}: settlement after cancelling failed: {}", limit_id,
                    settled.error().internal);
    }
    std::unique_lock map_lock(mutex_);
    auto found = counters_.find(KeyOf(organization_id, project_id));
    if (found != counters_.end() && found->second == counter) counters_.erase(found);
  }
  return limit;
}

}  // namespace gatehouse
