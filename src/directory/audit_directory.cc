#include "directory/audit_directory.h"

namespace gatehouse {

inline constexpr std::string_view kSystemActor = "(system)";

Result<AuditEventPage> AuditDirectory::List(const AuditQuery& query) {
  auto page = store_.ListAudit(query);
  if (!page) return std::unexpected(page.error());
  AuditEventPage out;
  out.count = page->count;
  out.events.reserve(page->entries.size());
  for (auto& entry : page->entries) {
    AuditEvent event{std::move(entry), {}, {}};
    const AuditEntry& e = event.entry;
    if (e.actor_token_id.empty()) {
      event.actor = kSystemActor;
    } else {
      event.actor = e.actor_name.empty() ? NameFor(e.actor_token_id) : e.actor_name;
    }
    event.target = e.target_name.empty() ? NameFor(e.target_id) : e.target_name;
    out.events.push_back(std::move(event));
  }
  return out;
}

std::string AuditDirectory::NameFor(const std::string& id) const {
  if (id.empty()) return {};
  if (auto token = cache_.FindById(id)) return std::string(token->name());
  if (auto name = cache_.NameOf(id); !name.empty()) return name;
  return id;
}

}  // namespace gatehouse
