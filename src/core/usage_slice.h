#ifndef GATEHOUSE_CORE_USAGE_SLICE_H_
#define GATEHOUSE_CORE_USAGE_SLICE_H_

#include "core/clock.h"
#include "core/usage_limit.h"

namespace gatehouse {

// Slices of a hard limit's budget (docs/architecture.md "Usage limits across nodes"). Every
// node that counts usage against a limit holds a slice: an amount of the limit's budget it may
// spend without asking the store. The store keeps each node's slice beside the limit, so that
// the slices and the usage settled so far never exceed the hard limit together; a node admits
// beyond its slice only on a small credit (UsageCredit). These are the rules; the stores apply
// them inside one transaction per limit (Store::SettleUsage) and UsageLimits in memory.

// How long a slice is kept for a node that stopped settling (crashed): after that the store
// gives its budget to others. A node stops spending a slice it could not renew for half of it.
inline constexpr TimeMs kSliceLifetimeMs = 60000;

// The smallest slice worth asking for: one request, or a thousandth of a Cost limit.
double MinimumSlice(const UsageLimit& limit);

// What a node may admit past its slice while the store last said that unreserved budget remains
// (1 request, or MinimumSlice of a Cost limit): the overshoot of a hard limit is at most this
// much per node (plus, for Cost, the cost of calls in flight).
double UsageCredit(const UsageLimit& limit);

// One node's settlement of one limit, as it asks.
struct SliceRequest {
  TimeMs counted_in = 0;  // the valid_from of the period in which `used` was counted
  double used = 0;        // counted by the node since its last settlement
  // What the node may still spend of its slice while the settlement is in flight: the store
  // never leaves it less.
  double keep = 0;
  double want = 0;       // the slice the node asks for when other nodes share the limit
  bool release = false;  // give back everything above `keep` (the node stops)
};

// The other nodes' slices of the limit, as the store holds them (live ones only).
struct OtherSlices {
  double reserved = 0;
  int nodes = 0;
};

struct SliceOutcome {
  double granted = 0;     // the node's slice now
  double unreserved = 0;  // hard - used - every slice, ≥ 0: 0 = nothing left to ask for
};

// Applies `request` to `limit` as stored (rolled to `now` first: two nodes that settle across a
// period boundary roll it once, since the store holds the limit's row while this runs) with
// `slice` the node's current slice: the usage is added when it was counted in the limit's
// current period (usage of an ended period is dropped, as that period's count is closed) and
// taken from the slice; the status follows. The node's new slice is then:
//  - alone (no other node holds or asks for a slice): everything unreserved, so that one node
//    (SQLite, or one PostgreSQL node) refuses exactly at the hard limit;
//  - shared: min(want, max(MinimumSlice, remaining / (4 × nodes))), taken from what is
//    unreserved, or given back down to that;
//  - never less than `keep`, and 0 for a limit that is no longer current.
SliceOutcome SettleSlice(UsageLimit& limit, double slice, const OtherSlices& others,
                         const SliceRequest& request, TimeMs now);

// Marks the crossing of the soft (or hard) limit in `period` as announced, once: false when
// it was already (by this node or another) or `period` is not the limit's current one.
bool ClaimLimitCrossing(UsageLimit& limit, bool hard, TimeMs period);

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_USAGE_SLICE_H_
