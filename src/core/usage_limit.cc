#include "core/usage_limit.h"

#include <chrono>

#include "core/text.h"

namespace gatehouse {
namespace {

using std::chrono::days;
using std::chrono::milliseconds;
using std::chrono::sys_days;

constexpr TimeMs kDayMs = 86400000;

TimeMs ToMs(sys_days day) {
  return std::chrono::duration_cast<milliseconds>(day.time_since_epoch()).count();
}

sys_days DayOf(TimeMs at) {
  return sys_days(days(at >= 0 ? at / kDayMs : (at - kDayMs + 1) / kDayMs));
}

}  // namespace

std::string_view ToString(SubscriptionType type) {
  switch (type) {
    case SubscriptionType::kFreemium:
      return "Freemium";
    case SubscriptionType::kDaily:
      return "Daily";
    case SubscriptionType::kWeekly:
      return "Weekly";
    case SubscriptionType::kMonthly:
      return "Monthly";
  }
  return "Monthly";
}

std::string_view ToString(UsageUnit unit) { return unit == UsageUnit::kCost ? "Cost" : "Requests"; }

std::string_view ToString(RenewalStatus renewal) {
  return renewal == RenewalStatus::kNonRenewable ? "NonRenewable" : "Renewable";
}

std::optional<SubscriptionType> ParseSubscriptionType(std::string_view text) {
  for (auto type : {SubscriptionType::kFreemium, SubscriptionType::kDaily,
                    SubscriptionType::kWeekly, SubscriptionType::kMonthly}) {
    if (EqualsIgnoreCase(text, ToString(type))) return type;
  }
  return std::nullopt;
}

std::optional<UsageUnit> ParseUsageUnit(std::string_view text) {
  for (auto unit : {UsageUnit::kRequests, UsageUnit::kCost}) {
    if (EqualsIgnoreCase(text, ToString(unit))) return unit;
  }
  return std::nullopt;
}

std::optional<RenewalStatus> ParseRenewalStatus(std::string_view text) {
  for (auto renewal : {RenewalStatus::kRenewable, RenewalStatus::kNonRenewable}) {
    if (EqualsIgnoreCase(text, ToString(renewal))) return renewal;
  }
  return std::nullopt;
}

UsageLimitPeriod PeriodContaining(SubscriptionType type, TimeMs at) {
  const sys_days day = DayOf(at);
  switch (type) {
    case SubscriptionType::kFreemium:
      return {at, std::nullopt};
    case SubscriptionType::kDaily:
      return {ToMs(day), ToMs(day + days(1))};
    case SubscriptionType::kWeekly: {
      // ISO weeks start on Monday; weekday 0 is Sunday.
      const unsigned weekday = std::chrono::weekday(day).c_encoding();
      const sys_days monday = day - days((weekday + 6) % 7);
      return {ToMs(monday), ToMs(monday + days(7))};
    }
    case SubscriptionType::kMonthly: {
      const std::chrono::year_month_day date(day);
      const auto first = date.year() / date.month() / std::chrono::day(1);
      const auto next = first + std::chrono::months(1);
      return {ToMs(sys_days(first)), ToMs(sys_days(next))};
    }
  }
  return {at, std::nullopt};
}

void StartUsageLimit(UsageLimit& limit, TimeMs now) {
  limit.status = LimitStatus::kActive;
  limit.used = 0;
  limit.valid_from = now;
  limit.valid_until = PeriodContaining(limit.subscription, now).end;
  limit.created_at = now;
  limit.updated_at = now;
  SettleUsageLimitStatus(limit);
}

bool RollUsageLimit(UsageLimit& limit, TimeMs now) {
  if (!limit.IsCurrent() || !limit.valid_until || now < *limit.valid_until) return false;
  if (limit.renewal == RenewalStatus::kNonRenewable) {
    limit.status = LimitStatus::kExpired;
  } else {
    const UsageLimitPeriod period = PeriodContaining(limit.subscription, now);
    limit.valid_from = period.start;
    limit.valid_until = period.end;
    limit.used = 0;
    limit.status = LimitStatus::kActive;
    SettleUsageLimitStatus(limit);
  }
  limit.updated_at = now;
  return true;
}

void SettleUsageLimitStatus(UsageLimit& limit) {
  if (!limit.IsCurrent()) return;
  limit.status = limit.used >= limit.hard_limit ? LimitStatus::kEmpty : LimitStatus::kActive;
}

}  // namespace gatehouse
