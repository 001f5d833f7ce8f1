// UsageLimits' settlement across nodes (docs/architecture.md "Usage limits across nodes"): the
// settling thread, the reconciliation with limits changed on other nodes, and the slices.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "core/audit_details.h"
#include "usage/usage_limits.h"

namespace gatehouse {
namespace {

// A node asks for a slice that lasts this long at the rate it counted since its last settlement.
constexpr double kSliceSeconds = 2.0;
// While its settlement is in flight a node may spend what it counts in this long at that rate.
constexpr double kKeepSeconds = 0.25;
// Without demand for this long, a node sharing a limit gives its slice back.
constexpr auto kIdleAfter = std::chrono::seconds(5);
// A slice held without usage is settled every this many rounds (to give it back to other nodes).
constexpr int kIdleCheckRounds = 5;
// Settlements woken one after another are this far apart at least.
constexpr auto kMinimumGap = std::chrono::milliseconds(20);

using SteadyClock = std::chrono::steady_clock;

}  // namespace

void UsageLimits::StartSettling(std::chrono::milliseconds interval) {
  if (settler_.joinable()) return;
  stopping_.store(false);
  settler_ = std::thread([this, interval] { RunSettler(interval); });
}

Status UsageLimits::StopSettling() {
  if (settler_.joinable()) {
    stopping_.store(true);
    wake_.release();
    settler_.join();
  }
  std::lock_guard write(write_mutex_);
  return SettleLocked({}, true, true);
}

void UsageLimits::WakeSettler() {
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) wake_.release();
}

void UsageLimits::RunSettler(std::chrono::milliseconds interval) {
  auto reconciled = SteadyClock::now();
  while (!stopping_.load()) {
    (void)wake_.try_acquire_for(interval);
    wake_pending_.store(false, std::memory_order_release);
    if (stopping_.load()) return;
    {
      std::lock_guard write(write_mutex_);
      if (SteadyClock::now() - reconciled >= interval) {
        reconciled = SteadyClock::now();
        if (auto done = ReconcileLocked(); !done) {
          spdlog::error("usage limit reload failed: {}", done.error().internal);
        }
      }
      if (auto done = SettleLocked({}, true, false); !done) {
        spdlog::error("usage limit settlement failed: {}", done.error().internal);
      }
    }
    std::this_thread::sleep_for(kMinimumGap);
  }
}

Status UsageLimits::Flush() {
  std::lock_guard write(write_mutex_);
  if (auto done = ReconcileLocked(); !done) return done;
  return SettleLocked({}, true, false);
}

Status UsageLimits::ReconcileLocked() {
  auto limits = store_.ListCurrentUsageLimits();
  if (!limits) return std::unexpected(limits.error());
  std::unordered_map<std::string, const UsageLimit*> stored;
  for (const auto& limit : *limits) stored[limit.id] = &limit;
  std::vector<UsageLimit> added;
  std::vector<std::pair<std::string, std::shared_ptr<Counter>>> tracked;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [key, counter] : counters_) tracked.emplace_back(key, counter);
  }
  std::unordered_map<std::string, bool> owners;
  for (auto& [key, counter] : tracked) {
    owners[key] = true;
    std::lock_guard lock(counter->mutex);
    auto found = stored.find(counter->limit.id);
    if (found == stored.end()) {
      // Ended elsewhere (cancelled, expired) or not yet visible: the settlement tells.
      counter->needs_settling = true;
      continue;
    }
    const UsageLimit& limit = *found->second;
    UsageLimit& mine = counter->limit;
    // Every node's usage, also for a limit this node has had no reason to settle lately.
    if (limit.valid_from == mine.valid_from && limit.used + counter->unsettled > mine.used) {
      mine.used = limit.used + counter->unsettled;
      SettleUsageLimitStatus(mine);
    }
    if (mine.hard_limit != limit.hard_limit || mine.soft_limit != limit.soft_limit ||
        mine.renewal != limit.renewal) {
      mine.hard_limit = limit.hard_limit;
      mine.soft_limit = limit.soft_limit;
      mine.renewal = limit.renewal;
      SettleUsageLimitStatus(mine);
      counter->exhausted = false;
      counter->needs_settling = true;
    }
  }
  for (const auto& limit : *limits) {
    if (!owners.contains(KeyOf(limit.organization_id, limit.project_id))) {
      added.push_back(limit);
    }
  }
  return TrackLocked(added);
}

void UsageLimits::EndSettlingLocked(Counter& counter) {
  counter.settling = false;
  counter.taken_in_flight = 0;
  counter.credit_in_flight = 0;
}

Status UsageLimits::SettleLocked(std::vector<std::shared_ptr<Counter>> counters, bool all,
                                 bool release) {
  const bool check_idle = all && ++rounds_ % kIdleCheckRounds == 0;
  if (all) {
    std::shared_lock lock(mutex_);
    counters.reserve(counters_.size());
    for (const auto& [key, counter] : counters_) counters.push_back(counter);
  }
  const TimeMs now = clock_.Now();
  const auto steady = SteadyClock::now();
  struct Pending {
    std::shared_ptr<Counter> counter;
    double used = 0;
    double demand = 0;
    double keep = 0;
    std::vector<LimitNotice> notices;
  };
  std::vector<Pending> pending;
  std::vector<UsageSettlement> settlements;
  for (auto& counter : counters) {
    std::lock_guard lock(counter->mutex);
    RollLocked(*counter, now);
    Counter& c = *counter;
    const bool asked = c.asked_at && steady - *c.asked_at < kIdleAfter;
    // Refused calls ask for a slice, unless the limit is used up: then only a change (seen by
    // ReconcileLocked) or a new period brings budget back, and asking would only load the store.
    const bool wanting = c.limit.status != LimitStatus::kEmpty &&
                         ((c.demand > 0 && c.exhausted) || (asked && c.available <= 0));
    const bool due = release || c.needs_settling || c.unsettled != 0 || !c.claims.empty() ||
                     !c.limit.IsCurrent() || c.credit > 0 || wanting ||
                     (c.available > 0 && (c.available < c.granted / 2 || check_idle));
    if (!due) continue;
    UsageSettlement settlement;
    settlement.limit_id = c.limit.id;
    SliceRequest& slice = settlement.slice;
    slice.counted_in = c.unsettled_in;
    slice.used = c.unsettled;
    const double seconds =
        c.snapshot_at == SteadyClock::time_point{}
            ? 1.0
            : std::max(std::chrono::duration<double>(steady - c.snapshot_at).count(), 0.05);
    const double rate = c.demand / seconds;
    slice.want = asked ? std::max(MinimumSlice(c.limit), kSliceSeconds * rate) : 0;
    slice.release = release;
    // Enough for the calls that arrive while the settlement is in flight; the rest of the slice
    // may go to other nodes (all of it when this node has been idle). A node that was alone on
    // the limit keeps all of it: no other node wanted any, and calls meanwhile spend it as
    // before (a node alone refuses exactly at the hard limit). Should the answer show another
    // node, the next round shares it.
    const bool kept_alone = !release && c.alone;
    if (kept_alone) {
      slice.keep = std::max(c.available, 0.0);
    } else if (release || !asked) {
      slice.keep = 0;
    } else {
      slice.keep = std::clamp(std::max(MinimumSlice(c.limit), kKeepSeconds * rate), 0.0,
                              std::max(c.available, 0.0));
    }
    Pending entry{counter, c.unsettled, c.demand, slice.keep, {}};
    c.settling = true;
    c.taken_in_flight = release ? 0 : std::max(c.available - slice.keep, 0.0);
    c.credit_in_flight = 0;
    c.available = std::min(c.available, slice.keep);
    c.unsettled = 0;
    c.demand = 0;
    c.snapshot_at = steady;
    c.needs_settling = false;
    settlement.claims = std::move(c.claims);
    entry.notices = std::move(c.notices);
    c.claims.clear();
    c.notices.clear();
    pending.push_back(std::move(entry));
    settlements.push_back(std::move(settlement));
  }
  if (settlements.empty()) return {};
  // The audit entries of crossings, with the names of their projects and organizations.
  for (std::size_t i = 0; i < settlements.size(); ++i) {
    for (std::size_t k = 0; k < settlements[i].claims.size(); ++k) {
      LimitNotice& notice = pending[i].notices[k];
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
      settlements[i].claims[k].audit = LimitAudit(AuditActor::System(), limit, notice.action,
                                                  notice.entity_name, notice.at, details);
    }
  }
  auto settled = store_.SettleUsage(node_id_, settlements, now);
  if (!settled) {
    // Nothing changed in the store: the counts and crossings wait for the next settlement.
    for (std::size_t i = 0; i < pending.size(); ++i) {
      Counter& c = *pending[i].counter;
      std::lock_guard lock(c.mutex);
      if (settlements[i].slice.counted_in == c.unsettled_in) c.unsettled += pending[i].used;
      c.demand += pending[i].demand;
      c.needs_settling = true;
      // The store still holds the slice for this node; the credit spent meanwhile came out
      // of what the settlement had taken of it, as the answer would have taken it. Credit
      // beyond that stays credit.
      const double covered = std::min(c.taken_in_flight, c.credit_in_flight);
      c.available += c.taken_in_flight - covered;
      c.credit = std::max(c.credit - covered, 0.0);
      EndSettlingLocked(c);
      for (auto& claim : settlements[i].claims) c.claims.push_back(std::move(claim));
      for (auto& notice : pending[i].notices) c.notices.push_back(std::move(notice));
    }
    return std::unexpected(settled.error());
  }
  std::vector<LimitNotice> announce;
  std::vector<std::shared_ptr<Counter>> ended;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const SettledUsage& result = (*settled)[i];
    Counter& c = *pending[i].counter;
    for (std::size_t k = 0; k < result.claimed.size(); ++k) {
      if (result.claimed[k]) announce.push_back(std::move(pending[i].notices[k]));
    }
    std::lock_guard lock(c.mutex);
    if (!result.found) {
      EndSettlingLocked(c);
      ended.push_back(pending[i].counter);
      continue;
    }
    c.limit = result.limit;
    RollUsageLimit(c.limit, clock_.Now());
    if (c.unsettled_in == c.limit.valid_from) {
      c.limit.used += c.unsettled;
    } else {
      c.unsettled = 0;
      c.unsettled_in = c.limit.valid_from;
    }
    SettleUsageLimitStatus(c.limit);
    // What was spent while the settlement was in flight came out of `keep`, or was credit that
    // the store has not counted yet.
    c.available += result.slice.granted - pending[i].keep - c.credit_in_flight;
    c.granted = result.slice.granted;
    c.exhausted = result.slice.unreserved <= 0;
    c.credit = 0;
    // A slice kept whole because this node was alone is shared at the next round.
    const bool was_alone = std::exchange(c.alone, result.others.nodes == 0);
    if (!release && was_alone && !c.alone) c.needs_settling = true;
    EndSettlingLocked(c);
    c.settled_at = SteadyClock::now();
    if (!c.limit.IsCurrent()) ended.push_back(pending[i].counter);
  }
  // Limits that stopped governing (expired, cancelled, gone) leave memory.
  if (!ended.empty()) {
    std::unique_lock lock(mutex_);
    for (const auto& counter : ended) {
      std::lock_guard counter_lock(counter->mutex);
      counter->ended = true;
      auto found = counters_.find(KeyOf(counter->limit.organization_id, counter->limit.project_id));
      if (found != counters_.end() && found->second == counter) counters_.erase(found);
    }
  }
  for (const auto& notice : announce) {
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
