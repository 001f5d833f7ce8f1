#include "usage/usage_limits.h"

#include <spdlog/spdlog.h>

#include "core/audit_details.h"
#include "core/ids.h"

namespace gatehouse {
namespace {

constexpr const char* kSoftCrossed = "limit.soft_crossed";
constexpr const char* kHardCrossed = "limit.hard_crossed";

AuditEntry LimitAudit(const AuditActor& actor, const UsageLimit& limit, std::string action,
                      const std::string& entity_name, TimeMs at, const AuditDetails& details) {
  return MakeAuditEntry(actor, limit.organization_id, std::move(action), "limit", limit.id,
                        entity_name, at, details.empty() ? std::string() : details.Json());
}

}  // namespace

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

UsageLimits::UsageLimits(Store& store, const Clock& clock, LimitNotifier* notifier)
    : store_(store), clock_(clock), notifier_(notifier) {}

std::string UsageLimits::KeyOf(const std::string& organization_id, const std::string& project_id) {
  return organization_id + "/" + project_id;
}

std::shared_ptr<UsageLimits::Counter> UsageLimits::CounterFor(const std::string& key) const {
  std::shared_lock lock(mutex_);
  auto found = counters_.find(key);
  return found == counters_.end() ? nullptr : found->second;
}

Status UsageLimits::Load() {
  auto limits = store_.ListCurrentUsageLimits();
  if (!limits) return std::unexpected(limits.error());
  for (const auto& limit : *limits) Track(limit);
  return {};
}

void UsageLimits::Track(const UsageLimit& limit) {
  auto counter = std::make_shared<Counter>();
  counter->limit = limit;
  std::unique_lock lock(mutex_);
  counters_[KeyOf(limit.organization_id, limit.project_id)] = std::move(counter);
}

void UsageLimits::ForgetProject(const std::string& organization_id, const std::string& project_id) {
  std::unique_lock lock(mutex_);
  counters_.erase(KeyOf(organization_id, project_id));
}

void UsageLimits::RollLocked(Counter& counter, TimeMs now) {
  if (RollUsageLimit(counter.limit, now)) counter.dirty = true;
}

void UsageLimits::AddLocked(Counter& counter, double amount, TimeMs now) {
  UsageLimit& limit = counter.limit;
  limit.used += amount;
  limit.updated_at = now;
  counter.dirty = true;
  std::vector<LimitNotice> crossed;
  if (limit.soft_limit > 0 && limit.used >= limit.soft_limit &&
      limit.soft_crossed_in != limit.valid_from) {
    limit.soft_crossed_in = limit.valid_from;
    crossed.push_back(LimitNotice{kSoftCrossed, limit, {}, now});
  }
  SettleUsageLimitStatus(limit);
  if (limit.status == LimitStatus::kEmpty && limit.hard_crossed_in != limit.valid_from) {
    limit.hard_crossed_in = limit.valid_from;
    crossed.push_back(LimitNotice{kHardCrossed, limit, {}, now});
  }
  if (!crossed.empty()) {
    std::lock_guard lock(pending_mutex_);
    for (auto& notice : crossed) pending_.push_back(std::move(notice));
  }
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
    RollLocked(*counter, now);
    const UsageLimit& limit = counter->limit;
    if (limit.IsCurrent() && limit.used >= limit.hard_limit) {
      return Fail(ErrorCode::kQuotaExceeded, {}, "usage limit " + limit.id + " reached");
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
  if (auto flushed = FlushLocked(); !flushed) return std::unexpected(flushed.error());
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
  Track(limit);
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
    std::lock_guard lock(counter->mutex);
    if (counter->limit.id == limit_id) {
      after = counter->limit;
      apply(after, &details);
      const AuditEntry audit = LimitAudit(actor, after, "limit.update", entity_name, now, details);
      if (auto stored = store_.UpdateUsageLimit(after, &audit); !stored) {
        return std::unexpected(stored.error());
      }
      counter->limit = after;
      counter->dirty = false;
      return after;
    }
  }
  after = *limit;
  apply(after, &details);
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
  std::unique_lock<std::mutex> lock;
  if (counter) {
    lock = std::unique_lock(counter->mutex);
    if (counter->limit.id == limit_id) *limit = counter->limit;
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
  if (counter && counter->limit.id == limit_id) {
    lock.unlock();
    std::unique_lock map_lock(mutex_);
    auto found = counters_.find(KeyOf(organization_id, project_id));
    if (found != counters_.end() && found->second == counter) counters_.erase(found);
  }
  return limit;
}

Status UsageLimits::Flush() {
  std::lock_guard write(write_mutex_);
  return FlushLocked();
}

Status UsageLimits::FlushLocked() {
  std::vector<std::shared_ptr<Counter>> counters;
  {
    std::shared_lock lock(mutex_);
    counters.reserve(counters_.size());
    for (const auto& [key, counter] : counters_) counters.push_back(counter);
  }
  const TimeMs now = clock_.Now();
  std::vector<UsageLimit> changed;
  std::vector<std::shared_ptr<Counter>> written;
  for (const auto& counter : counters) {
    std::lock_guard lock(counter->mutex);
    RollLocked(*counter, now);
    if (!counter->dirty) continue;
    counter->dirty = false;
    changed.push_back(counter->limit);
    written.push_back(counter);
  }
  std::vector<LimitNotice> notices;
  {
    std::lock_guard lock(pending_mutex_);
    notices.swap(pending_);
  }
  std::vector<AuditEntry> audit;
  for (auto& notice : notices) {
    const UsageLimit& limit = notice.limit;
    if (!limit.project_id.empty()) {
      auto project = store_.FindProject(limit.organization_id, limit.project_id);
      if (project && *project) notice.entity_name = (*project)->name;
    } else {
      auto organization = store_.FindOrganization(limit.organization_id);
      if (organization && *organization) notice.entity_name = (*organization)->name;
    }
    AuditDetails details;
    details.Note("usedAmount", limit.used);
    details.Note(notice.action == kSoftCrossed ? "softLimit" : "hardLimit",
                 notice.action == kSoftCrossed ? limit.soft_limit : limit.hard_limit);
    audit.push_back(LimitAudit(AuditActor::System(), limit, notice.action, notice.entity_name,
                               notice.at, details));
  }
  if (auto saved = store_.SaveUsageCounters(changed, audit); !saved) {
    for (const auto& counter : written) {
      std::lock_guard lock(counter->mutex);
      counter->dirty = true;
    }
    std::lock_guard lock(pending_mutex_);
    pending_.insert(pending_.begin(), notices.begin(), notices.end());
    return saved;
  }
  // Limits that stopped governing (expired) leave memory once stored.
  {
    std::unique_lock lock(mutex_);
    for (auto it = counters_.begin(); it != counters_.end();) {
      std::lock_guard counter_lock(it->second->mutex);
      if (!it->second->limit.IsCurrent() && !it->second->dirty) {
        it = counters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& notice : notices) {
    const UsageLimit& limit = notice.limit;
    spdlog::warn(
        "usage limit crossed: action={} limitId={} organizationId={} projectId={} entity={} "
        "usageUnit={} usedAmount={} softLimit={} hardLimit={}",
        notice.action, limit.id, limit.organization_id, limit.project_id, notice.entity_name,
        ToString(limit.unit), limit.used, limit.soft_limit, limit.hard_limit);
    if (notifier_) notifier_->Notify(notice);
  }
  return {};
}

}  // namespace gatehouse
