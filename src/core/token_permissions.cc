#include "core/token_permissions.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <unordered_set>

#include "core/text.h"

namespace gatehouse {
namespace {

constexpr std::string_view kModels = "allowedModels";
constexpr std::string_view kAssistants = "allowedAssistants";
constexpr std::string_view kCidrs = "allowedCidrs";

Status CheckBounds(const std::vector<std::string>& entries, std::string_view field) {
  if (entries.size() > kMaxPermissionEntries)
    return Fail(ErrorCode::kOutOfRange, std::string(field));
  for (const auto& entry : entries) {
    if (entry.size() > kMaxPermissionEntryLength) {
      return Fail(ErrorCode::kOutOfRange, std::string(field));
    }
    if (!IsValidUtf8(entry)) return Fail(ErrorCode::kPattern, std::string(field));
  }
  return {};
}

void DropDuplicates(std::vector<std::string>& entries) {
  std::unordered_set<std::string> seen;
  std::erase_if(entries, [&seen](const std::string& entry) { return !seen.insert(entry).second; });
}

bool IsModelPattern(std::string_view pattern) {
  const auto slash = pattern.find('/');
  if (pattern == "*") return true;
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == pattern.size()) return false;
  return std::none_of(pattern.begin(), pattern.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; });
}

TokenPermissions::List ListFrom(const boost::json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (!value || !value->is_array()) return std::nullopt;
  std::vector<std::string> list;
  for (const auto& entry : value->as_array()) {
    if (entry.is_string()) list.emplace_back(entry.as_string());
  }
  return list;
}

}  // namespace

Result<std::vector<std::string>> ValidModelPatterns(std::vector<std::string> patterns) {
  if (auto bounded = CheckBounds(patterns, kModels); !bounded) {
    return std::unexpected(bounded.error());
  }
  for (const auto& pattern : patterns) {
    if (!IsModelPattern(pattern)) return Fail(ErrorCode::kPattern, std::string(kModels));
  }
  DropDuplicates(patterns);
  return patterns;
}

Result<std::vector<std::string>> ValidAssistantNames(std::vector<std::string> names) {
  if (auto bounded = CheckBounds(names, kAssistants); !bounded) {
    return std::unexpected(bounded.error());
  }
  for (const auto& name : names) {
    if (Trim(name).empty()) return Fail(ErrorCode::kPattern, std::string(kAssistants));
  }
  DropDuplicates(names);
  return names;
}

Result<std::vector<std::string>> ValidCidrs(std::vector<std::string> cidrs) {
  if (auto bounded = CheckBounds(cidrs, kCidrs); !bounded) return std::unexpected(bounded.error());
  for (auto& cidr : cidrs) {
    auto block = CidrBlock::Parse(cidr);
    if (!block || cidr.find('[') != std::string::npos || cidr.find('%') != std::string::npos) {
      return Fail(ErrorCode::kPattern, std::string(kCidrs));
    }
    cidr = block->ToString();
  }
  DropDuplicates(cidrs);
  return cidrs;
}

boost::json::value PermissionListJson(const TokenPermissions::List& list) {
  if (!list) return nullptr;
  boost::json::array array;
  for (const auto& entry : *list) array.emplace_back(entry);
  return array;
}

std::string PermissionsToJson(const TokenPermissions& permissions) {
  if (permissions.unrestricted()) return {};
  boost::json::object object;
  if (permissions.allowed_models) object[kModels] = PermissionListJson(permissions.allowed_models);
  if (permissions.allowed_assistants) {
    object[kAssistants] = PermissionListJson(permissions.allowed_assistants);
  }
  if (permissions.allowed_cidrs) object[kCidrs] = PermissionListJson(permissions.allowed_cidrs);
  return boost::json::serialize(object);
}

TokenPermissions PermissionsFromJson(std::string_view json) {
  TokenPermissions permissions;
  if (json.empty()) return permissions;
  boost::system::error_code error;
  const auto value = boost::json::parse(json, error);
  if (error || !value.is_object()) return permissions;
  const auto& object = value.as_object();
  permissions.allowed_models = ListFrom(object, kModels);
  permissions.allowed_assistants = ListFrom(object, kAssistants);
  permissions.allowed_cidrs = ListFrom(object, kCidrs);
  return permissions;
}

bool ModelPatternMatches(std::string_view pattern, std::string_view model) {
  // Iterative glob with one backtrack point: linear in practice, never exponential.
  std::size_t p = 0, m = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (m < model.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = m;
    } else if (p < pattern.size() && pattern[p] == model[m]) {
      ++p;
      ++m;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      m = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::shared_ptr<const CompiledPermissions> CompiledPermissions::Compile(
    const TokenPermissions& permissions) {
  if (permissions.unrestricted()) return nullptr;
  auto compiled = std::make_shared<CompiledPermissions>();
  auto names = [](const std::vector<std::string>& entries, bool patterns) {
    Names out;
    for (const auto& entry : entries) {
      if (patterns && entry.find('*') != std::string::npos) {
        out.patterns.push_back(entry);
      } else {
        out.exact.push_back(entry);
      }
    }
    std::sort(out.exact.begin(), out.exact.end());
    return out;
  };
  if (permissions.allowed_models) compiled->models_ = names(*permissions.allowed_models, true);
  if (permissions.allowed_assistants) {
    compiled->assistants_ = names(*permissions.allowed_assistants, false);
  }
  if (permissions.allowed_cidrs) {
    compiled->cidrs_.emplace();
    for (const auto& cidr : *permissions.allowed_cidrs) {
      if (auto block = CidrBlock::Parse(cidr)) compiled->cidrs_->push_back(*block);
    }
  }
  return compiled;
}

bool CompiledPermissions::Names::Allows(std::string_view name) const {
  if (std::binary_search(exact.begin(), exact.end(), name, std::less<>())) return true;
  return std::any_of(patterns.begin(), patterns.end(), [name](const std::string& pattern) {
    return ModelPatternMatches(pattern, name);
  });
}

bool CompiledPermissions::AllowsModel(std::string_view model) const {
  return !models_ || models_->Allows(model);
}

bool CompiledPermissions::AllowsAssistant(std::string_view name) const {
  return !assistants_ || assistants_->Allows(name);
}

bool CompiledPermissions::AllowsAddress(std::string_view address) const {
  if (!cidrs_) return true;
  const auto parsed = IpAddress::Parse(address);
  return parsed && AnyContains(*cidrs_, *parsed);
}

}  // namespace gatehouse
