#ifndef GATEHOUSE_DIRECTORY_ASSISTANT_DIRECTORY_H_
#define GATEHOUSE_DIRECTORY_ASSISTANT_DIRECTORY_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/model.h"
#include "store/store.h"

namespace gatehouse {

// A partial change of an assistant's LLM settings (`llmSettings` of an update): absent fields
// stay; a null temperature or maxTokens clears it.
struct LlmSettingsChange {
  std::optional<std::string> provider_name;
  std::optional<std::string> model_name;
  std::optional<std::optional<double>> temperature;
  std::optional<std::optional<std::int64_t>> max_tokens;

  // A change that sets every field to `llm`'s.
  static LlmSettingsChange All(const LlmSettings& llm);
  LlmSettings AppliedTo(LlmSettings llm) const;
};

// A partial update of an assistant; absent fields stay.
struct AssistantChange {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> prompt;
  std::optional<LlmSettingsChange> llm;
};

// Checks the LLM settings an update would store (a provider and model the node knows).
using LlmCheck = std::function<Status(const LlmSettings&)>;

// The rules of assistants (API.md §8): unique names per project, and a new revision whenever
// the prompt or the LLM settings change. Every change is audited (targetType "assistant") in
// its own transaction; the prompt's text stays out of the details (its revision shows a change).
//
// It also keeps every live assistant in memory, so that a chat call naming an assistant is
// resolved on the event loop without a store read: `Load` fills the catalog at start, and each
// change made through this directory updates it after its transaction commits. Changes made
// by other nodes of a shared store arrive by `Load` again (CacheMaintenance, when the store
// reports a change).
// Thread-safe; `store` must outlive it.
class AssistantDirectory {
 public:
  AssistantDirectory(Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  Result<Assistant> Create(const std::string& organization_id, const std::string& project_id,
                           std::string name, std::string description, std::string prompt,
                           LlmSettings llm, const AuditActor& actor = AuditActor::System());
  // (Re)reads the in-memory catalog from the store. A change this directory makes while the
  // store is read is applied again to what was read, so a reload never loses a newer one.
  Status Load();
  // By id or name within the project; 404 id 1 otherwise. Reads the store.
  Result<Assistant> Find(const std::string& project_id, const std::string& id_or_name);
  // The same answer from the in-memory catalog: never touches the store, so the gateway may
  // call it on an event loop.
  Result<Assistant> Lookup(const std::string& project_id, const std::string& id_or_name) const;
  Result<std::vector<Assistant>> List(const std::string& project_id);
  Result<std::vector<AssistantRevision>> Revisions(const std::string& assistant_id);
  // Applies `change` to the assistant as it is stored; a change committed between the read and
  // the write is read again and `change` applied to it. `check` (when given) vets the LLM
  // settings that would be stored, merged from the change and the stored ones.
  Result<Assistant> Update(const std::string& project_id, const std::string& id_or_name,
                           const AssistantChange& change,
                           const AuditActor& actor = AuditActor::System(),
                           const LlmCheck& check = {});
  Status Delete(const std::string& project_id, const std::string& id_or_name,
                const AuditActor& actor = AuditActor::System());

 private:
  Result<Assistant> UpdateOnce(const std::string& project_id, const std::string& id_or_name,
                               const AssistantChange& change, const AuditActor& actor,
                               const LlmCheck& check);
  using Catalog = std::unordered_map<std::string, std::vector<Assistant>>;  // by project id

  // A change made while a Load reads the store: Remember (`assistant`) or Forget (its
  // project_id and id).
  struct Change {
    bool remembered;
    Assistant assistant;
  };

  void Remember(const Assistant& assistant);
  void Forget(const std::string& project_id, const std::string& assistant_id);
  // Both, under catalog_mutex_ held exclusively.
  void Apply(const Change& change);

  Store& store_;
  const Clock& clock_;
  std::mutex load_mutex_;  // one Load at a time
  mutable std::shared_mutex catalog_mutex_;
  Catalog catalog_;              // guarded by catalog_mutex_
  bool loading_ = false;         // guarded by catalog_mutex_
  std::vector<Change> changes_;  // guarded by catalog_mutex_: made while loading_
};

}  // namespace gatehouse

#endif  // GATEHOUSE_DIRECTORY_ASSISTANT_DIRECTORY_H_
