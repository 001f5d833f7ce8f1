#include "directory/audit_directory.h"

#include <spdlog/spdlog.h>

namespace gatehouse {

void AuditDirectory::Record(const Principal& actor, std::string_view action,
                            const std::string& target_id) {
  auto recorded = store_.AppendAudit(AuditEntry{0, actor.organization_id(), actor.token->id,
                                                std::string(action), target_id, clock_.Now()});
  if (!recorded) spdlog::error("audit {} failed: {}", action, recorded.error().internal);
}

Result<AuditEventPage> AuditDirectory::List(const std::string& organization_id, std::int64_t offset,
                                            std::int64_t limit) {
  auto page = store_.ListAudit(organization_id, offset, limit);
  if (!page) return std::unexpected(page.error());
  AuditEventPage out;
  out.count = page->count;
  out.events.reserve(page->entries.size());
  for (auto& entry : page->entries) {
    AuditEvent event{std::move(entry), {}, {}};
    event.actor = NameFor(event.entry.actor_token_id);
    event.target = NameFor(event.entry.target_id);
    out.events.push_back(std::move(event));
  }
  return out;
}

std::string AuditDirectory::NameFor(const std::string& id) const {
  if (id.empty()) return {};
  if (auto token = cache_.FindById(id)) return token->name;
  if (auto name = cache_.NameOf(id); !name.empty()) return name;
  return id;
}

}  // namespace gatehouse
