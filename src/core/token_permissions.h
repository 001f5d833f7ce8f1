#ifndef GATEHOUSE_CORE_TOKEN_PERMISSIONS_H_
#define GATEHOUSE_CORE_TOKEN_PERMISSIONS_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/ip_address.h"

namespace boost::json {
class value;
}  // namespace boost::json

namespace gatehouse {

// Bounds of a permission list (API.md §3): more entries, or a longer entry, is 400 id 8.
inline constexpr std::size_t kMaxPermissionEntries = 100;
inline constexpr std::size_t kMaxPermissionEntryLength = 200;

// What a token may call and from where (API.md §3). Each list: nullopt = no restriction, an
// empty list = nothing allowed. Organization tokens carry allowed_cidrs only.
struct TokenPermissions {
  using List = std::optional<std::vector<std::string>>;
  List allowed_models;      // "<provider>/<model>" ids or patterns with '*'
  List allowed_assistants;  // assistant names, exact (case-sensitive, as assistant names are)
  List allowed_cidrs;       // canonical CIDR blocks ("10.0.0.0/8")

  bool unrestricted() const { return !allowed_models && !allowed_assistants && !allowed_cidrs; }
  bool operator==(const TokenPermissions&) const = default;
};

// Checks and canonicalises the lists a client sent. `field` is the wire name for the error:
// 400 id 8 for too many or too long entries, 400 id 11 for an entry that is not a valid model
// pattern (`<provider>/<model>`, no spaces or control characters, '*' anywhere), assistant name
// (non-empty text) or CIDR block. CIDRs come back canonical (host bits cleared) and every list
// without duplicates, in the order given.
Result<std::vector<std::string>> ValidModelPatterns(std::vector<std::string> patterns);
Result<std::vector<std::string>> ValidAssistantNames(std::vector<std::string> names);
Result<std::vector<std::string>> ValidCidrs(std::vector<std::string> cidrs);

// A list as the API shows it: null when absent, else an array of strings.
boost::json::value PermissionListJson(const TokenPermissions::List& list);

// The stored form: a JSON object with only the restricted lists ("allowedModels", …), or an
// empty string when unrestricted. Parsing an empty or unreadable text gives no restriction.
std::string PermissionsToJson(const TokenPermissions& permissions);
TokenPermissions PermissionsFromJson(std::string_view json);

// True when `model` ("openai/gpt-4o-mini") matches `pattern`, where '*' matches any run of
// characters (also none, also '/') and every other character matches itself, case-sensitively.
bool ModelPatternMatches(std::string_view pattern, std::string_view model);

// TokenPermissions compiled once, when a token enters the cache, so that every check on the
// request path reads memory only: exact model ids and assistant names sorted for a binary
// search, '*' patterns kept apart, CIDRs parsed. Immutable; thread-safe.
class CompiledPermissions {
 public:
  // Null when `permissions` restricts nothing (most tokens: the hot path then tests a pointer).
  static std::shared_ptr<const CompiledPermissions> Compile(const TokenPermissions& permissions);

  bool AllowsModel(std::string_view model) const;
  bool AllowsAssistant(std::string_view name) const;
  // False also for an address that does not parse, when addresses are restricted.
  bool AllowsAddress(std::string_view address) const;
  // An empty allowedAssistants: no assistant may run (a listing need not read any).
  bool allows_no_assistant() const {
    return assistants_ && assistants_->exact.empty() && assistants_->patterns.empty();
  }

 private:
  struct Names {
    std::vector<std::string> exact;     // sorted
    std::vector<std::string> patterns;  // entries with '*'
    bool Allows(std::string_view name) const;
  };
  std::optional<Names> models_;
  std::optional<Names> assistants_;
  std::optional<std::vector<CidrBlock>> cidrs_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_CORE_TOKEN_PERMISSIONS_H_
