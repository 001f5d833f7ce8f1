#ifndef GATEHOUSE_APP_INSTANCE_H_
#define GATEHOUSE_APP_INSTANCE_H_

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "auth/keyring.h"
#include "auth/token_cache.h"
#include "config/config.h"
#include "directory/assistant_directory.h"
#include "directory/audit_directory.h"
#include "directory/organization_directory.h"
#include "directory/project_directory.h"
#include "directory/token_directory.h"
#include "store/sqlite/sqlite_store.h"

namespace gatehouse {

// The value of `result`, else std::runtime_error with the error's client text, its internal
// detail, and `what` in front. For operator commands and start-up, where exceptions are the
// way out (they are caught in main).
template <typename T>
T OrThrow(Result<T> result, std::string_view what = {}) {
  if (!result) {
    const Error& error = result.error();
    throw std::runtime_error((what.empty() ? "" : std::string(what) + ": ") +
                             DescriptionOf(error.items.front()) +
                             (error.internal.empty() ? "" : " (" + error.internal + ")"));
  }
  return std::move(*result);
}

inline void OrThrow(Status status, std::string_view what = {}) {
  if (!status) OrThrow(Result<int>(std::unexpected(status.error())), what);
}

// What a command expects of its data directory when it opens it.
enum class DataDirUse {
  kServe,      // initialized, or really new (no database, master key file or admin token yet)
  kExisting,   // initialized already (the operator commands)
  kInit,       // really new, or an interrupted initialization to complete (`init`)
  kForceInit,  // also over a master key or admin token left without their database (`--force`)
};

// An opened data directory: the store, the keys and the directories over them, shared by the
// server and the operator commands. Construction throws std::runtime_error (start-up only),
// with a message naming the path and the cause, and refuses to open:
// - a data directory it cannot write (read-only file system, permissions);
// - a missing or empty database beside an existing master key file or admin token (a lost
//   database or a wrong --data-dir), unless `use` is kForceInit; on PostgreSQL, a database
//   that holds no installation (no settings: new, emptied or another one);
// - a database whose stored key check value belongs to another master key;
// - a master key file readable or writable by group or others.
// A data directory it creates gets mode 0700; the database (and so its WAL and SHM files,
// which SQLite creates with the database's mode) is created 0600, and a database found with
// wider permissions is narrowed to 0600.
class Instance {
 public:
  // `clock` must outlive the instance.
  Instance(const ServerConfig& config, const Clock& clock, DataDirUse use = DataDirUse::kServe);
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // True once `gatehouse init` (or the first `serve`) has completed on this data directory.
  bool Initialized();
  // Completes initialization: the system administrator credential (written to the admin token
  // file, mode 0600, before its hash is stored) and the organization "Default" with its
  // DefaultOrganization token, each only if missing, so that an interrupted run is finished by
  // the next. Returns the organization when it was created now. Throws std::runtime_error when
  // already initialized or on failure.
  std::optional<CreatedOrganization> Initialize();
  // Initialize for `serve`: nothing when initialized already, also by another node that started
  // at the same moment on the same database (each step is then kept as that node made it).
  std::optional<CreatedOrganization> InitializeIfNeeded();
  // The HMAC of the system administrator secret, empty before initialization.
  std::string AdminSecretHash();

  const ServerConfig& config() const { return config_; }
  const Clock& clock() const { return clock_; }
  Store& store() { return *store_; }
  // The store when it is SQLite (backup, query plans), else nullptr.
  SqliteStore* sqlite_store() { return sqlite_; }
  const Keyring& keyring() const { return keyring_; }
  TokenCache& cache() { return cache_; }
  TokenDirectory& tokens() { return tokens_; }
  ProjectDirectory& projects() { return projects_; }
  OrganizationDirectory& organizations() { return organizations_; }
  AssistantDirectory& assistants() { return assistants_; }
  AuditDirectory& audit() { return audit_; }

 private:
  std::optional<CreatedOrganization> CompleteInitialization();
  void FinishPendingAdminFile();
  bool HasOrganization();
  // On PostgreSQL, what PrepareDataDir refuses on SQLite before the file is opened: a database
  // holding no installation, for an operator command (`use` kExisting) or beside left_behind_.
  void RefuseEmptyStore(DataDirUse use);
  // Stores this key's check value in a database that has none; throws when the database's
  // check value belongs to another key.
  void CheckMasterKey();

  ServerConfig config_;
  const Clock& clock_;
  std::string database_;  // set while the keyring is built, before the store opens
  // The master key file or admin token found before the keyring was built, or empty.
  std::string left_behind_;
  Keyring keyring_;
  SqliteStore* sqlite_ = nullptr;  // set by the store's construction, before store_
  std::unique_ptr<Store> store_;
  TokenCache cache_;
  TokenDirectory tokens_;
  ProjectDirectory projects_;
  OrganizationDirectory organizations_;
  AssistantDirectory assistants_;
  AuditDirectory audit_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_APP_INSTANCE_H_
