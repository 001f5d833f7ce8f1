#include "store/sqlite/sqlite_store.h"

namespace gatehouse {
namespace {

constexpr const char* kAssistantColumns =
    "id, organization_id, project_id, name, description, prompt, provider_name, model_name, "
    "temperature, max_tokens, revision, created_at, updated_at FROM assistants";

Assistant ReadAssistant(const sqlite::Statement& row) {
  Assistant assistant;
  assistant.id = row.Text(0);
  assistant.organization_id = row.Text(1);
  assistant.project_id = row.Text(2);
  assistant.name = row.Text(3);
  assistant.description = row.Text(4);
  assistant.prompt = row.Text(5);
  assistant.llm = LlmSettings{row.Text(6), row.Text(7), row.OptionalDouble(8), row.OptionalInt(9)};
  assistant.revision = row.Int(10);
  assistant.created_at = row.Int(11);
  assistant.updated_at = row.Int(12);
  return assistant;
}

}  // namespace

Status SqliteStore::InsertRevisionLocked(const Assistant& assistant) {
  auto stmt = db_.Prepare(
      "INSERT INTO assistant_revisions(assistant_id, revision, prompt, provider_name, model_name, "
      "temperature, max_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  return (*stmt)
      ->Bind(1, assistant.id)
      .Bind(2, assistant.revision)
      .Bind(3, assistant.prompt)
      .Bind(4, assistant.llm.provider_name)
      .Bind(5, assistant.llm.model_name)
      .Bind(6, assistant.llm.temperature)
      .Bind(7, assistant.llm.max_tokens)
      .Bind(8, assistant.updated_at)
      .Run();
}

Status SqliteStore::CreateAssistant(const Assistant& assistant, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  sqlite::Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "INSERT INTO assistants(id, organization_id, project_id, name, description, prompt, "
      "provider_name, model_name, temperature, max_tokens, revision, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  auto inserted = (*stmt)
                      ->Bind(1, assistant.id)
                      .Bind(2, assistant.organization_id)
                      .Bind(3, assistant.project_id)
                      .Bind(4, assistant.name)
                      .Bind(5, assistant.description)
                      .Bind(6, assistant.prompt)
                      .Bind(7, assistant.llm.provider_name)
                      .Bind(8, assistant.llm.model_name)
                      .Bind(9, assistant.llm.temperature)
                      .Bind(10, assistant.llm.max_tokens)
                      .Bind(11, assistant.revision)
                      .Bind(12, assistant.created_at)
                      .Bind(13, assistant.updated_at)
                      .StepUnlessConstraint();
  if (!inserted) return std::unexpected(inserted.error());
  if (!*inserted) return Fail(ErrorCode::kAssistantNameExists);
  if (auto done = InsertRevisionLocked(assistant); !done) return done;
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

Result<std::optional<Assistant>> SqliteStore::FindAssistant(const std::string& project_id,
                                                            const std::string& id_or_name) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(std::string("SELECT ") + kAssistantColumns +
                         " WHERE project_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR name = ?2)"
                         " ORDER BY id = ?2 DESC LIMIT 1");
  if (!stmt) return std::unexpected(stmt.error());
  auto row = (*stmt)->Bind(1, project_id).Bind(2, id_or_name).Step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<Assistant>();
  return std::optional<Assistant>(ReadAssistant(**stmt));
}

Result<std::vector<Assistant>> SqliteStore::ListAssistants(const std::string& project_id) {
  return ReadAssistants(" WHERE project_id = ?1 AND deleted_at IS NULL ORDER BY name, id",
                        &project_id);
}

Result<std::vector<Assistant>> SqliteStore::ListAllAssistants() {
  return ReadAssistants(" WHERE deleted_at IS NULL", nullptr);
}

Result<std::vector<Assistant>> SqliteStore::ReadAssistants(const char* where,
                                                           const std::string* project_id) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(std::string("SELECT ") + kAssistantColumns + where);
  if (!stmt) return std::unexpected(stmt.error());
  if (project_id) (*stmt)->Bind(1, *project_id);
  std::vector<Assistant> assistants;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    assistants.push_back(ReadAssistant(**stmt));
  }
  return assistants;
}

Result<std::vector<AssistantRevision>> SqliteStore::ListAssistantRevisions(
    const std::string& assistant_id) {
  auto reader = readers_.Acquire();
  if (!reader) return std::unexpected(reader.error());
  sqlite::Database& db = **reader;
  auto stmt = db.Prepare(
      "SELECT revision, prompt, provider_name, model_name, temperature, max_tokens, created_at "
      "FROM assistant_revisions WHERE assistant_id = ?1 ORDER BY revision");
  if (!stmt) return std::unexpected(stmt.error());
  (*stmt)->Bind(1, assistant_id);
  std::vector<AssistantRevision> revisions;
  for (;;) {
    auto row = (*stmt)->Step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    const auto& r = **stmt;
    revisions.push_back(AssistantRevision{
        r.Int(0), r.Text(1),
        LlmSettings{r.Text(2), r.Text(3), r.OptionalDouble(4), r.OptionalInt(5)}, r.Int(6)});
  }
  return revisions;
}

Status SqliteStore::UpdateAssistant(const Assistant& read, const Assistant& assistant,
                                    const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  sqlite::Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "UPDATE assistants SET name = ?3, description = ?4, prompt = ?5, provider_name = ?6, "
      "model_name = ?7, temperature = ?8, max_tokens = ?9, revision = ?10, updated_at = ?11 "
      "WHERE id = ?1 AND project_id = ?2 AND deleted_at IS NULL AND revision = ?12 "
      "AND name = ?13 AND description = ?14");
  if (!stmt) return std::unexpected(stmt.error());
  auto updated = (*stmt)
                     ->Bind(1, assistant.id)
                     .Bind(2, assistant.project_id)
                     .Bind(3, assistant.name)
                     .Bind(4, assistant.description)
                     .Bind(5, assistant.prompt)
                     .Bind(6, assistant.llm.provider_name)
                     .Bind(7, assistant.llm.model_name)
                     .Bind(8, assistant.llm.temperature)
                     .Bind(9, assistant.llm.max_tokens)
                     .Bind(10, assistant.revision)
                     .Bind(11, assistant.updated_at)
                     .Bind(12, read.revision)
                     .Bind(13, read.name)
                     .Bind(14, read.description)
                     .StepUnlessConstraint();
  if (!updated) return std::unexpected(updated.error());
  if (!*updated) return Fail(ErrorCode::kAssistantNameExists);
  if (db_.ChangedRows() == 0) return Fail(ErrorCode::kConflict, {}, "assistant changed meanwhile");
  if (assistant.revision != read.revision) {
    if (auto done = InsertRevisionLocked(assistant); !done) return done;
  }
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

Status SqliteStore::DeleteAssistant(const std::string& project_id, const std::string& assistant_id,
                                    TimeMs now, const AuditEntry* audit) {
  auto lock = LockWriter();
  if (!lock) return std::unexpected(lock.error());
  sqlite::Transaction transaction(db_);
  if (!transaction.begun()) return transaction.begun();
  auto stmt = db_.Prepare(
      "UPDATE assistants SET deleted_at = ?3, updated_at = ?3 "
      "WHERE id = ?2 AND project_id = ?1 AND deleted_at IS NULL");
  if (!stmt) return std::unexpected(stmt.error());
  if (auto done = (*stmt)->Bind(1, project_id).Bind(2, assistant_id).Bind(3, now).Run(); !done) {
    return done;
  }
  if (audit) {
    if (auto done = AppendAuditLocked(*audit); !done) return done;
  }
  return transaction.Commit();
}

}  // namespace gatehouse
