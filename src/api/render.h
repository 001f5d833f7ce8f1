#ifndef GATEHOUSE_API_RENDER_H_
#define GATEHOUSE_API_RENDER_H_

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <vector>

#include "core/model.h"
#include "directory/audit_directory.h"

namespace gatehouse {

// The wire shapes of API.md §4, §6 and §9.
boost::json::object TokenJson(const ApiToken& token);
boost::json::array TokensJson(const std::vector<ApiToken>& tokens);
boost::json::object ProjectJson(const Project& project);
boost::json::object AssistantJson(const Assistant& assistant);
boost::json::object LlmSettingsJson(const LlmSettings& llm);
boost::json::value TimestampJson(std::optional<TimeMs> ms);  // null when absent
// An audit event of API.md §12 (also printed by `gatehouse audit --json`).
boost::json::object AuditEventJson(const AuditEvent& event);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_RENDER_H_
