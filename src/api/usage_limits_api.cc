#include "api/usage_limits_api.h"

#include <boost/json/array.hpp>
#include <cmath>

#include "api/render.h"
#include "api/request_input.h"
#include "api/routes.h"
#include "core/text.h"

// Usage limits (API.md §7) at the reference paths.
namespace gatehouse {
namespace {

constexpr double kMaxLimit = 1e15;

// The owner a limit path names: the caller's own organization (another organization's id is
// answered like an unknown one, 404 id 9006) and, on /projects/{project} paths, one of its
// projects (404 id 2005).
struct LimitOwner {
  std::string organization_id;
  std::string project_id;  // empty for the organization's own limits
  std::string entity_name;
};

Result<LimitOwner> OwnerOf(ApiServices& services, const ApiCall& call, bool project_path) {
  const std::string& organization_id = call.caller.organization_id();
  if (!EqualsIgnoreCase(call.params[0], organization_id)) {
    return Fail(ErrorCode::kOrganizationNotFound);
  }
  LimitOwner owner{organization_id, {}, {}};
  if (project_path) {
    auto project = services.projects.Find(organization_id, call.params[1]);
    if (!project) return std::unexpected(project.error());
    owner.project_id = project->id;
    owner.entity_name = project->name;
  } else {
    owner.entity_name = services.cache.NameOf(organization_id);
    if (owner.entity_name.empty()) {
      auto organization = services.organizations.Resolve(organization_id);
      if (organization) owner.entity_name = organization->name;
    }
  }
  return owner;
}

// Text of a required or optional enum field; id 9 when required and missing, id 11 when not
// one of the values.
template <typename T>
std::optional<T> ReadEnum(const boost::json::object& body, std::string_view field,
                          std::optional<T> (*parse)(std::string_view), bool required,
                          std::optional<Error>& error) {
  BodyReader reader(body);
  auto text = reader.Text(field, 40, required);
  auto note = [&error](ErrorCode code, std::string_view name) {
    if (!error) {
      error = Error(code, std::string(name));
    } else {
      error->items.push_back(ErrorItem{code, std::string(name)});
    }
  };
  if (auto valid = reader.Finish(); !valid) {
    note(valid.error().code(), field);
    return std::nullopt;
  }
  if (!text) return std::nullopt;
  auto value = parse(*text);
  if (!value) note(ErrorCode::kPattern, field);
  return value;
}

}  // namespace

Result<UsageLimitSpec> ReadUsageLimitSpec(const boost::json::object& body) {
  std::optional<Error> error;
  UsageLimitSpec spec;
  auto subscription =
      ReadEnum<SubscriptionType>(body, "subscriptionType", ParseSubscriptionType, true, error);
  auto unit = ReadEnum<UsageUnit>(body, "usageUnit", ParseUsageUnit, true, error);
  auto renewal = ReadEnum<RenewalStatus>(body, "renewalStatus", ParseRenewalStatus, false, error);
  BodyReader reader(body);
  auto soft = reader.Number("softLimit", 0, kMaxLimit);
  // Absent or null (in any case of the key, as every body key) is required.
  auto hard = reader.Number("hardLimit", 0, kMaxLimit, true);
  if (auto valid = reader.Finish(); !valid) {
    if (!error) {
      error = valid.error();
    } else {
      for (const auto& item : valid.error().items) error->items.push_back(item);
    }
  }
  if (error) return std::unexpected(std::move(*error));
  spec.subscription = *subscription;
  spec.unit = *unit;
  spec.renewal = renewal.value_or(RenewalStatus::kRenewable);
  spec.hard_limit = *hard;
  spec.soft_limit = soft.value_or(0);
  if (spec.soft_limit > spec.hard_limit) return Fail(ErrorCode::kOutOfRange, "softLimit");
  return spec;
}

boost::json::object UsageLimitJson(const UsageLimit& limit, const std::string& entity_name) {
  auto amount = [&limit](double value) -> boost::json::value {
    if (limit.unit == UsageUnit::kRequests) return static_cast<std::int64_t>(std::llround(value));
    return value;
  };
  return boost::json::object{
      {"id", limit.id},
      {"subscriptionType", ToString(limit.subscription)},
      {"usageUnit", ToString(limit.unit)},
      {"softLimit", amount(limit.soft_limit)},
      {"hardLimit", amount(limit.hard_limit)},
      {"renewalStatus", ToString(limit.renewal)},
      {"status", static_cast<int>(limit.status)},
      {"usedAmount", amount(limit.used)},
      {"remainingUsage", amount(limit.Remaining())},
      {"relatedEntityName", entity_name},
      {"validFrom", FormatTimestamp(limit.valid_from)},
      {"validUntil", TimestampJson(limit.valid_until)},
  };
}

namespace {

template <bool kProject>
Result<boost::json::value> CreateLimit(ApiServices& services, const ApiCall& call) {
  auto owner = OwnerOf(services, call, kProject);
  if (!owner) return std::unexpected(owner.error());
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  auto spec = ReadUsageLimitSpec(*body);
  if (!spec) return std::unexpected(spec.error());
  auto limit = services.usage_limits.Create(owner->organization_id, owner->project_id,
                                            owner->entity_name, *spec, ActorOf(call));
  if (!limit) return std::unexpected(limit.error());
  return UsageLimitJson(*limit, owner->entity_name);
}

template <bool kProject>
Result<boost::json::value> ListLimits(ApiServices& services, const ApiCall& call) {
  auto owner = OwnerOf(services, call, kProject);
  if (!owner) return std::unexpected(owner.error());
  auto limits = services.usage_limits.List(owner->organization_id, owner->project_id);
  if (!limits) return std::unexpected(limits.error());
  boost::json::array out;
  for (const auto& limit : *limits) out.push_back(UsageLimitJson(limit, owner->entity_name));
  // The reference SDK reads either name.
  return boost::json::object{{"limits", out}, {"usageLimits", out}};
}

template <bool kProject>
Result<boost::json::value> LatestLimit(ApiServices& services, const ApiCall& call) {
  auto owner = OwnerOf(services, call, kProject);
  if (!owner) return std::unexpected(owner.error());
  auto limit = services.usage_limits.Latest(owner->organization_id, owner->project_id);
  if (!limit) return std::unexpected(limit.error());
  return UsageLimitJson(*limit, owner->entity_name);
}

template <bool kProject>
Result<boost::json::value> ActiveLimit(ApiServices& services, const ApiCall& call) {
  auto owner = OwnerOf(services, call, kProject);
  if (!owner) return std::unexpected(owner.error());
  auto limit = services.usage_limits.Current(owner->organization_id, owner->project_id);
  if (!limit) return std::unexpected(limit.error());
  return UsageLimitJson(*limit, owner->entity_name);
}

template <bool kProject>
Result<boost::json::value> CancelLimit(ApiServices& services, const ApiCall& call) {
  auto owner = OwnerOf(services, call, kProject);
  if (!owner) return std::unexpected(owner.error());
  auto limit = services.usage_limits.Cancel(owner->organization_id, owner->project_id,
                                            call.params[kProject ? 2 : 1], owner->entity_name,
                                            ActorOf(call));
  if (!limit) return std::unexpected(limit.error());
  return UsageLimitJson(*limit, owner->entity_name);
}

enum class LimitField { kHard, kSoft, kRenewal };

template <bool kProject, LimitField kField>
Result<boost::json::value> ChangeLimit(ApiServices& services, const ApiCall& call) {
  auto owner = OwnerOf(services, call, kProject);
  if (!owner) return std::unexpected(owner.error());
  auto body = ParseJsonBody(call.request);
  if (!body) return std::unexpected(body.error());
  UsageLimitChange change;
  std::optional<Error> error;
  if constexpr (kField == LimitField::kRenewal) {
    change.renewal =
        ReadEnum<RenewalStatus>(*body, "renewalStatus", ParseRenewalStatus, true, error);
  } else {
    const std::string_view field = kField == LimitField::kHard ? "hardLimit" : "softLimit";
    BodyReader reader(*body);
    auto value = reader.Number(field, 0, kMaxLimit);
    if (auto valid = reader.Finish(); !valid) return std::unexpected(valid.error());
    if (!value) return Fail(ErrorCode::kRequired, std::string(field));
    (kField == LimitField::kHard ? change.hard_limit : change.soft_limit) = *value;
  }
  if (error) return std::unexpected(std::move(*error));
  const std::string& limit_id = call.params[kProject ? 2 : 1];
  // The soft limit never exceeding the hard one is checked by Change, under its write lock.
  auto limit = services.usage_limits.Change(owner->organization_id, owner->project_id, limit_id,
                                            owner->entity_name, change, ActorOf(call));
  if (!limit) return std::unexpected(limit.error());
  return UsageLimitJson(*limit, owner->entity_name);
}

template <bool kProject>
void AddLimitRoutes(RouteTable& routes, const std::string& base) {
  constexpr auto kOrg = Access::kOrganization;
  routes.AddJson("POST", base, kOrg, CreateLimit<kProject>);
  routes.AddJson("GET", base, kOrg, ListLimits<kProject>);
  routes.AddJson("GET", base + "/latest", kOrg, LatestLimit<kProject>);
  routes.AddJson("GET", base + "/active", kOrg, ActiveLimit<kProject>);
  routes.AddJson("DELETE", base + "/{id}", kOrg, CancelLimit<kProject>);
  routes.AddJson("PUT", base + "/{id}/hardLimit", kOrg, ChangeLimit<kProject, LimitField::kHard>);
  routes.AddJson("PUT", base + "/{id}/softLimit", kOrg, ChangeLimit<kProject, LimitField::kSoft>);
  routes.AddJson("PUT", base + "/{id}/renewalStatus", kOrg,
                 ChangeLimit<kProject, LimitField::kRenewal>);
}

}  // namespace

void AddUsageLimitRoutes(RouteTable& routes) {
  const std::string prefix = "/v2/usageLimits/organizations/{organization}";
  AddLimitRoutes<false>(routes, prefix + "/limits");
  AddLimitRoutes<true>(routes, prefix + "/projects/{project}/limits");
}

}  // namespace gatehouse
