#ifndef GATEHOUSE_API_USAGE_LIMITS_API_H_
#define GATEHOUSE_API_USAGE_LIMITS_API_H_

#include <boost/json/object.hpp>
#include <string>

#include "core/error.h"
#include "core/usage_limit.h"
#include "usage/usage_limits.h"

namespace gatehouse {

// The writable fields of a limit object (API.md §7): subscriptionType, usageUnit and hardLimit
// required, softLimit (default 0, never above hardLimit), renewalStatus (default Renewable).
Result<UsageLimitSpec> ReadUsageLimitSpec(const boost::json::object& body);

// The limit object of API.md §7; `entity_name` is its project's or organization's name.
boost::json::object UsageLimitJson(const UsageLimit& limit, const std::string& entity_name);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_USAGE_LIMITS_API_H_
