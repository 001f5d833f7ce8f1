#include "directory/assistant_directory.h"

#include "core/audit_details.h"
#include "core/ids.h"
#include "directory/conflict_retry.h"

namespace gatehouse {
namespace {

void DescribeSettings(AuditDetails& details, const Assistant& before, const Assistant& after) {
  details.Change("name", before.name, after.name);
  details.Change("description", before.description, after.description);
  details.Change("revision", before.revision, after.revision);
  details.Change("providerName", before.llm.provider_name, after.llm.provider_name);
  details.Change("modelName", before.llm.model_name, after.llm.model_name);
  details.Change("temperature", OptionalJson(before.llm.temperature),
                 OptionalJson(after.llm.temperature));
  details.Change("maxTokens", OptionalJson(before.llm.max_tokens),
                 OptionalJson(after.llm.max_tokens));
}

AuditEntry AssistantAudit(const AuditActor& actor, const Assistant& assistant, std::string action,
                          TimeMs at, const AuditDetails& details) {
  return MakeAuditEntry(actor, assistant.organization_id, std::move(action), "assistant",
                        assistant.id, assistant.name, at,
                        details.empty() ? std::string() : details.Json());
}

}  // namespace

Result<Assistant> AssistantDirectory::Create(const std::string& organization_id,
                                             const std::string& project_id, std::string name,
                                             std::string description, std::string prompt,
                                             LlmSettings llm, const AuditActor& actor) {
  Assistant assistant;
  assistant.id = NewUuid();
  assistant.organization_id = organization_id;
  assistant.project_id = project_id;
  assistant.name = std::move(name);
  assistant.description = std::move(description);
  assistant.prompt = std::move(prompt);
  assistant.llm = std::move(llm);
  assistant.created_at = assistant.updated_at = clock_.Now();
  AuditDetails details;
  DescribeSettings(details, Assistant{.name = {}, .revision = 0}, assistant);
  details.Note("projectId", boost::json::string(assistant.project_id));
  const AuditEntry audit =
      AssistantAudit(actor, assistant, "assistant.create", assistant.created_at, details);
  if (auto stored = store_.CreateAssistant(assistant, &audit); !stored) {
    return std::unexpected(stored.error());
  }
  Remember(assistant);
  return assistant;
}

Status AssistantDirectory::Load() {
  std::lock_guard load(load_mutex_);
  {
    std::unique_lock lock(catalog_mutex_);
    loading_ = true;
    changes_.clear();
  }
  auto assistants = store_.ListAllAssistants();
  Catalog catalog;
  if (assistants) {
    for (auto& assistant : *assistants) {
      catalog[assistant.project_id].push_back(std::move(assistant));
    }
  }
  std::unique_lock lock(catalog_mutex_);
  loading_ = false;
  if (assistants) {
    catalog_.swap(catalog);
    for (const Change& change : changes_) Apply(change);
  }
  changes_.clear();
  if (!assistants) return std::unexpected(assistants.error());
  return {};
}

Result<Assistant> AssistantDirectory::Lookup(const std::string& project_id,
                                             const std::string& id_or_name) const {
  std::shared_lock lock(catalog_mutex_);
  const auto project = catalog_.find(project_id);
  if (project == catalog_.end()) return Fail(ErrorCode::kAssistantNotFound);
  // An id match wins over a name match, as in the store's lookup.
  const Assistant* by_name = nullptr;
  for (const auto& assistant : project->second) {
    if (assistant.id == id_or_name) return assistant;
    if (!by_name && assistant.name == id_or_name) by_name = &assistant;
  }
  if (!by_name) return Fail(ErrorCode::kAssistantNotFound);
  return *by_name;
}

void AssistantDirectory::Remember(const Assistant& assistant) {
  std::unique_lock lock(catalog_mutex_);
  Change change{true, assistant};
  Apply(change);
  if (loading_) changes_.push_back(std::move(change));
}

void AssistantDirectory::Forget(const std::string& project_id, const std::string& assistant_id) {
  std::unique_lock lock(catalog_mutex_);
  Change change{false, Assistant{}};
  change.assistant.project_id = project_id;
  change.assistant.id = assistant_id;
  Apply(change);
  if (loading_) changes_.push_back(std::move(change));
}

void AssistantDirectory::Apply(const Change& change) {
  const Assistant& assistant = change.assistant;
  if (change.remembered) {
    auto& assistants = catalog_[assistant.project_id];
    for (auto& known : assistants) {
      if (known.id == assistant.id) {
        known = assistant;
        return;
      }
    }
    assistants.push_back(assistant);
    return;
  }
  const auto project = catalog_.find(assistant.project_id);
  if (project == catalog_.end()) return;
  std::erase_if(project->second, [&](const Assistant& known) { return known.id == assistant.id; });
  if (project->second.empty()) catalog_.erase(project);
}

Result<Assistant> AssistantDirectory::Find(const std::string& project_id,
                                           const std::string& id_or_name) {
  auto found = store_.FindAssistant(project_id, id_or_name);
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kAssistantNotFound);
  return std::move(**found);
}

Result<std::vector<Assistant>> AssistantDirectory::List(const std::string& project_id) {
  return store_.ListAssistants(project_id);
}

Result<std::vector<AssistantRevision>> AssistantDirectory::Revisions(
    const std::string& assistant_id) {
  return store_.ListAssistantRevisions(assistant_id);
}

LlmSettingsChange LlmSettingsChange::All(const LlmSettings& llm) {
  return {llm.provider_name, llm.model_name, llm.temperature, llm.max_tokens};
}

LlmSettings LlmSettingsChange::AppliedTo(LlmSettings llm) const {
  if (provider_name) llm.provider_name = *provider_name;
  if (model_name) llm.model_name = *model_name;
  if (temperature) llm.temperature = *temperature;
  if (max_tokens) llm.max_tokens = *max_tokens;
  return llm;
}

Result<Assistant> AssistantDirectory::Update(const std::string& project_id,
                                             const std::string& id_or_name,
                                             const AssistantChange& change, const AuditActor& actor,
                                             const LlmCheck& check) {
  // The store takes the change only onto the assistant as it was read: a change or a delete
  // that came in between is read again (a deleted assistant is then 404).
  return RetryOnConflict([&] { return UpdateOnce(project_id, id_or_name, change, actor, check); });
}

Result<Assistant> AssistantDirectory::UpdateOnce(const std::string& project_id,
                                                 const std::string& id_or_name,
                                                 const AssistantChange& change,
                                                 const AuditActor& actor, const LlmCheck& check) {
  auto assistant = Find(project_id, id_or_name);
  if (!assistant) return assistant;
  const Assistant before = *assistant;
  bool new_revision = false;
  if (change.name) assistant->name = *change.name;
  if (change.description) assistant->description = *change.description;
  if (change.prompt && *change.prompt != assistant->prompt) {
    assistant->prompt = *change.prompt;
    new_revision = true;
  }
  if (change.llm) {
    LlmSettings llm = change.llm->AppliedTo(assistant->llm);
    if (check) {
      if (auto known = check(llm); !known) return std::unexpected(known.error());
    }
    if (!(llm == assistant->llm)) {
      assistant->llm = std::move(llm);
      new_revision = true;
    }
  }
  if (new_revision) ++assistant->revision;
  assistant->updated_at = clock_.Now();
  AuditDetails details;
  DescribeSettings(details, before, *assistant);
  const AuditEntry audit =
      AssistantAudit(actor, *assistant, "assistant.update", assistant->updated_at, details);
  if (auto stored = store_.UpdateAssistant(before, *assistant, &audit); !stored) {
    return std::unexpected(stored.error());
  }
  Remember(*assistant);
  return assistant;
}

Status AssistantDirectory::Delete(const std::string& project_id, const std::string& id_or_name,
                                  const AuditActor& actor) {
  auto assistant = Find(project_id, id_or_name);
  if (!assistant) return std::unexpected(assistant.error());
  const TimeMs now = clock_.Now();
  const AuditEntry audit = AssistantAudit(actor, *assistant, "assistant.delete", now, {});
  if (auto deleted = store_.DeleteAssistant(project_id, assistant->id, now, &audit); !deleted) {
    return deleted;
  }
  Forget(project_id, assistant->id);
  return {};
}

}  // namespace gatehouse
