#ifndef GATEHOUSE_DIRECTORY_AUDIT_DIRECTORY_H_
#define GATEHOUSE_DIRECTORY_AUDIT_DIRECTORY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.h"
#include "auth/token_cache.h"
#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

namespace gatehouse {

// An audit entry with the names of its actor and target resolved for display.
struct AuditEvent {
  AuditEntry entry;
  std::string actor;   // the acting token's name, or "(system)"
  std::string target;  // the target's name when known, else its id
};

struct AuditEventPage {
  std::int64_t count = 0;
  std::vector<AuditEvent> events;  // newest first
};

// The audit trail of management changes (API.md §12). Thread-safe; `store`, `cache` and `clock`
// must outlive it.
class AuditDirectory {
 public:
  AuditDirectory(Store& store, const TokenCache& cache, const Clock& clock)
      : store_(store), cache_(cache), clock_(clock) {}

  // A page of an organization's events matching `query`, newest first. Events are written by
  // the layer that makes each change, in the change's own transaction; this only reads them.
  Result<AuditEventPage> List(const AuditQuery& query);

 private:
  // A token's or project's name when known, else the id itself.
  std::string NameFor(const std::string& id) const;

  Store& store_;
  const TokenCache& cache_;
  const Clock& clock_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_DIRECTORY_AUDIT_DIRECTORY_H_
