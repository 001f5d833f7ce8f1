#include "core/usage_slice.h"

#include <algorithm>

namespace gatehouse {

double MinimumSlice(const UsageLimit& limit) {
  return limit.unit == UsageUnit::kRequests ? 1.0 : limit.hard_limit / 1000;
}

double UsageCredit(const UsageLimit& limit) { return MinimumSlice(limit); }

SliceOutcome SettleSlice(UsageLimit& limit, double slice, const OtherSlices& others,
                         const SliceRequest& request, TimeMs now) {
  RollUsageLimit(limit, now);
  slice = std::max(slice - request.used, 0.0);
  if (request.used > 0 && request.counted_in == limit.valid_from) {
    limit.used += request.used;
    limit.updated_at = std::max(limit.updated_at, now);
  }
  SettleUsageLimitStatus(limit);
  SliceOutcome outcome;
  if (!limit.IsCurrent()) return outcome;
  const double remaining = std::max(limit.hard_limit - limit.used, 0.0);
  const double unreserved = std::max(remaining - slice - others.reserved, 0.0);
  double target = 0;
  if (request.release) {
    target = 0;
  } else if (others.nodes == 0) {
    target = slice + unreserved;
  } else {
    target = std::min(request.want,
                      std::max(MinimumSlice(limit), remaining / (4.0 * (others.nodes + 1))));
  }
  const double keep = std::clamp(request.keep, 0.0, slice);
  outcome.granted = std::max(keep, std::min(target, slice + unreserved));
  outcome.unreserved = std::max(remaining - outcome.granted - others.reserved, 0.0);
  return outcome;
}

bool ClaimLimitCrossing(UsageLimit& limit, bool hard, TimeMs period) {
  std::optional<TimeMs>& marker = hard ? limit.hard_crossed_in : limit.soft_crossed_in;
  if (period != limit.valid_from || marker == period) return false;
  marker = period;
  return true;
}

}  // namespace gatehouse
