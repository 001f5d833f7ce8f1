#include "directory/assistant_directory.h"

#include "core/ids.h"

namespace gatehouse {

Result<Assistant> AssistantDirectory::Create(const std::string& organization_id,
                                             const std::string& project_id, std::string name,
                                             std::string description, std::string prompt,
                                             LlmSettings llm) {
  Assistant assistant;
  assistant.id = NewUuid();
  assistant.organization_id = organization_id;
  assistant.project_id = project_id;
  assistant.name = std::move(name);
  assistant.description = std::move(description);
  assistant.prompt = std::move(prompt);
  assistant.llm = std::move(llm);
  assistant.created_at = assistant.updated_at = clock_.Now();
  if (auto stored = store_.CreateAssistant(assistant); !stored) {
    return std::unexpected(stored.error());
  }
  return assistant;
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

Result<Assistant> AssistantDirectory::Update(const std::string& project_id,
                                             const std::string& id_or_name,
                                             const AssistantChange& change) {
  auto assistant = Find(project_id, id_or_name);
  if (!assistant) return assistant;
  bool new_revision = false;
  if (change.name) assistant->name = *change.name;
  if (change.description) assistant->description = *change.description;
  if (change.prompt && *change.prompt != assistant->prompt) {
    assistant->prompt = *change.prompt;
    new_revision = true;
  }
  if (change.llm && !(*change.llm == assistant->llm)) {
    assistant->llm = *change.llm;
    new_revision = true;
  }
  if (new_revision) ++assistant->revision;
  assistant->updated_at = clock_.Now();
  if (auto stored = store_.UpdateAssistant(*assistant, new_revision); !stored) {
    return std::unexpected(stored.error());
  }
  return assistant;
}

Status AssistantDirectory::Delete(const std::string& project_id, const std::string& id_or_name) {
  auto assistant = Find(project_id, id_or_name);
  if (!assistant) return std::unexpected(assistant.error());
  return store_.DeleteAssistant(project_id, assistant->id, clock_.Now());
}

}  // namespace gatehouse
