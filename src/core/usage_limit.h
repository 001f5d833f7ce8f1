#ifndef GATEHOUSE_CORE_USAGE_LIMIT_H_
#define GATEHOUSE_CORE_USAGE_LIMIT_H_

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace gatehouse {

// API.md §7. The numeric values of the enums are stored; never renumber them.
enum class SubscriptionType { kFreemium = 0, kDaily = 1, kWeekly = 2, kMonthly = 3 };
enum class UsageUnit { kRequests = 0, kCost = 1 };
enum class RenewalStatus { kRenewable = 0, kNonRenewable = 1 };
// The wire values: 1 Active, 2 Expired, 3 Empty (hard limit reached), 4 Cancelled.
enum class LimitStatus { kActive = 1, kExpired = 2, kEmpty = 3, kCancelled = 4 };

std::string_view ToString(SubscriptionType type);  // "Freemium" | "Daily" | "Weekly" | "Monthly"
std::string_view ToString(UsageUnit unit);         // "Requests" | "Cost"
std::string_view ToString(RenewalStatus renewal);  // "Renewable" | "NonRenewable"
// Case-insensitive parsers for request values.
std::optional<SubscriptionType> ParseSubscriptionType(std::string_view text);
std::optional<UsageUnit> ParseUsageUnit(std::string_view text);
std::optional<RenewalStatus> ParseRenewalStatus(std::string_view text);

// One calendar period of a limit, [start, end) in UTC; `end` is absent for Freemium.
struct UsageLimitPeriod {
  TimeMs start = 0;
  std::optional<TimeMs> end;
};

// The calendar period of `type` that contains `at`: the UTC day, the ISO week (from Monday
// 00:00) or the month. Freemium has one period that starts at `at` and never ends.
UsageLimitPeriod PeriodContaining(SubscriptionType type, TimeMs at);

// A usage limit of a project (project_id set) or of a whole organization (project_id empty).
// `used` counts requests (Requests) or USD (Cost) from `valid_from` on.
struct UsageLimit {
  std::string id;
  std::string organization_id;
  std::string project_id;
  SubscriptionType subscription = SubscriptionType::kMonthly;
  UsageUnit unit = UsageUnit::kRequests;
  double soft_limit = 0;
  double hard_limit = 0;
  RenewalStatus renewal = RenewalStatus::kRenewable;
  LimitStatus status = LimitStatus::kActive;
  double used = 0;
  TimeMs valid_from = 0;
  std::optional<TimeMs> valid_until;
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  // The valid_from of the period in which the soft (hard) limit was last crossed, so that a
  // crossing is announced once per period.
  std::optional<TimeMs> soft_crossed_in;
  std::optional<TimeMs> hard_crossed_in;

  // Active or Empty: the limit that governs its project or organization now.
  bool IsCurrent() const { return status == LimitStatus::kActive || status == LimitStatus::kEmpty; }
  double Remaining() const { return hard_limit > used ? hard_limit - used : 0; }
};

// A new Active limit created at `now`: its first period runs from `now` to the end of the
// calendar period that contains it (API.md §7: a limit created mid-period starts at 0).
void StartUsageLimit(UsageLimit& limit, TimeMs now);

// Brings a current limit's period up to `now`: past `valid_until` a Renewable limit starts the
// calendar period containing `now` with `used` 0 (and becomes Active again), a NonRenewable one
// becomes Expired. Returns true when the limit changed.
bool RollUsageLimit(UsageLimit& limit, TimeMs now);

// Status after `used` or `hard_limit` changed: Empty at or over the hard limit, else Active
// (only for current limits; others keep their status).
void SettleUsageLimitStatus(UsageLimit& limit);

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_USAGE_LIMIT_H_
