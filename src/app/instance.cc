#include "app/instance.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "auth/secret.h"
#include "core/text.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_store.h"

namespace gatehouse {
namespace {

constexpr std::string_view kInitializedSetting = "initialized_at";
constexpr std::string_view kMasterKeyCheckSetting = "master_key_check";
// An administrator secret written before its hash was stored: <admin token file> + this + pid.
constexpr std::string_view kPendingAdminSuffix = ".pending-";

[[noreturn]] void FailOn(const std::string& path, const std::string& problem, int error) {
  throw std::runtime_error(path + ": " + problem + " (" + std::strerror(error) + ")");
}

bool NonEmptyFile(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && info.st_size > 0;
}

bool Exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

bool MasterKeyFromEnvironment() {
  const char* env = std::getenv("GATEHOUSE_MASTER_KEY");
  return env && *env;
}

bool UsesPostgres(const ServerConfig& config) { return pg::IsPostgresUrl(config.store); }

// The file in the data directory that says an installation was here ("master key PATH" or
// "admin token PATH"), or empty. Read before the master key file is created.
std::string LeftBehind(const ServerConfig& config) {
  if (!MasterKeyFromEnvironment() && Exists(config.MasterKeyFile())) {
    return "master key " + config.MasterKeyFile();
  }
  if (Exists(config.AdminTokenFile())) return "admin token " + config.AdminTokenFile();
  return {};
}

// Creates the data directory (0700) when missing, checks that it can be written, and refuses
// to go on when its files say that the database was lost (see Instance). Runs before the
// master key or the database is created. Returns the database path. On PostgreSQL the data
// directory keeps only the master key, the admin token and the request journal; the database
// is the server's: Instance::RefuseEmptyStore and CheckMasterKey judge it once it is open.
std::string PrepareDataDir(const ServerConfig& config, DataDirUse use) {
  const std::string& dir = config.data_dir;
  const std::string database = config.DatabaseFile();
  struct stat info;
  if (::stat(dir.c_str(), &info) != 0) {
    if (use == DataDirUse::kExisting) {
      throw std::runtime_error("data directory " + dir +
                               " does not exist; create one with `gatehouse init`");
    }
    const auto parent = std::filesystem::path(dir).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      FailOn(dir, "cannot create the data directory", errno);
    }
    ::chmod(dir.c_str(), 0700);  // whatever the umask
  } else if (!S_ISDIR(info.st_mode)) {
    throw std::runtime_error("data directory " + dir + " is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    FailOn(dir,
           errno == EROFS ? "the data directory is on a read-only file system"
                          : "the data directory is not writable",
           errno);
  }
  if (UsesPostgres(config)) return pg::RedactUrl(config.store);
  if (NonEmptyFile(database)) return database;

  const std::string left_behind = LeftBehind(config);
  const std::string state = Exists(database) ? "is empty" : "is missing";
  if (use == DataDirUse::kExisting) {
    throw std::runtime_error("database " + database + " " + state + ": data directory " + dir +
                             " is not initialized (run `gatehouse init`)");
  }
  if (!left_behind.empty() && use != DataDirUse::kForceInit) {
    throw std::runtime_error(
        "database " + database + " " + state + ", but " + left_behind +
        " exists: the database was lost or moved, or this is the wrong data directory. "
        "Refusing to start: restore the database (e.g. from `gatehouse backup`), or start over "
        "with `gatehouse init --force`, which creates a new organization and admin token");
  }
  return database;
}

// Creates the database 0600 before SQLite does (SQLite gives its WAL and SHM files the
// database's mode), and narrows the modes of files that earlier versions created wider.
void SecureDatabaseFiles(const std::string& database) {
  const int fd = ::open(database.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) FailOn(database, "cannot create or open the database", errno);
  ::close(fd);
  for (const std::string& path : {database, database + "-wal", database + "-shm"}) {
    struct stat info;
    if (::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
      if (::chmod(path.c_str(), 0600) != 0) FailOn(path, "cannot narrow the mode to 0600", errno);
    }
  }
}

const std::string& OpenDatabasePath(const ServerConfig& config, DataDirUse use,
                                    std::string& database) {
  database = PrepareDataDir(config, use);
  if (!UsesPostgres(config)) SecureDatabaseFiles(database);
  return database;
}

// The store `config.store` names, with its pending migrations applied. `sqlite` is set to it
// when it is SQLite (the operator commands that only SQLite has: backup, explain).
std::unique_ptr<Store> OpenStore(const ServerConfig& config, const std::string& database,
                                 SqliteStore*& sqlite) {
  if (UsesPostgres(config)) {
    PgStore::Options options;
    options.url = config.store;
    // Every blocking pool thread can hold one, plus the maintenance threads.
    options.connections = 10;
    options.export_connections = 6;
    sqlite = nullptr;
    return std::make_unique<PgStore>(std::move(options));
  }
  auto store = std::make_unique<SqliteStore>(database);
  sqlite = store.get();
  return store;
}

void WriteSecretFile(const std::string& path, const std::string& secret) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path);
  const std::string line = secret + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::fchmod(fd, 0600);
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced) throw std::runtime_error("cannot write " + path);
}

// The first line of `path`, trimmed; empty when it cannot be read.
std::string FirstLine(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return std::string(Trim(line));
}

}  // namespace

Instance::Instance(const ServerConfig& config, const Clock& clock, DataDirUse use)
    : config_(config),
      clock_(clock),
      left_behind_(LeftBehind(config)),
      keyring_(Keyring::Load((OpenDatabasePath(config, use, database_), config.MasterKeyFile()))),
      store_(OpenStore(config, database_, sqlite_)),
      tokens_(*store_, keyring_, cache_, clock, config.reveal != "never"),
      projects_(*store_, tokens_, clock),
      organizations_(*store_, tokens_, clock),
      assistants_(*store_, clock),
      audit_(*store_, cache_, clock) {
  RefuseEmptyStore(use);
  CheckMasterKey();
  // With reveal=never no sealed copy may survive from a time when revealing was allowed.
  if (config_.reveal == "never") {
    OrThrow(store_->DiscardSealedSecrets(), "discard sealed secrets");
  }
}

void Instance::RefuseEmptyStore(DataDirUse use) {
  if (sqlite_ || use == DataDirUse::kForceInit) return;  // SQLite: PrepareDataDir did this
  for (const std::string_view key :
       {kMasterKeyCheckSetting, kAdminSecretHashSetting, kInitializedSetting}) {
    if (OrThrow(store_->GetSetting(std::string(key)), "read settings")) return;
  }
  if (use == DataDirUse::kExisting) {
    throw std::runtime_error("database " + database_ + " is empty: data directory " +
                             config_.data_dir + " is not initialized (run `gatehouse init`)");
  }
  if (!left_behind_.empty()) {
    throw std::runtime_error(
        "database " + database_ + " is empty, but " + left_behind_ +
        " exists: the database was lost or replaced, or this is the wrong store. Refusing to "
        "start: restore the database (e.g. with pg_restore), or start over with `gatehouse init "
        "--force`, which creates a new organization and admin token");
  }
}

void Instance::CheckMasterKey() {
  const std::string mine = keyring_.CheckValue();
  auto stored = OrThrow(store_->GetSetting(std::string(kMasterKeyCheckSetting)), "read settings");
  bool matches = !stored || ConstantTimeEquals(*stored, mine);
  if (!stored) {
    // A new database, or one from a version that kept no check value. In the latter the
    // administrator secret, when its file is at hand, tells whether this key is the database's.
    const std::string admin_hash = AdminSecretHash();
    std::ifstream admin_file(config_.AdminTokenFile());
    std::string admin_secret;
    if (!admin_hash.empty() && std::getline(admin_file, admin_secret)) {
      matches = ConstantTimeEquals(keyring_.Hash(Trim(admin_secret)), admin_hash);
    }
  }
  if (!matches) {
    const std::string key = MasterKeyFromEnvironment() ? "GATEHOUSE_MASTER_KEY"
                                                       : "master key " + config_.MasterKeyFile();
    throw std::runtime_error(key + " does not match database " + database_ +
                             ": the database was initialized with another master key, so every "
                             "token would be rejected. Refusing to start: use the master key "
                             "this database was created with");
  }
  if (!stored) {
    // Several nodes starting at once on a new database each hold a key: the first to store its
    // check value decides, and the others refuse to start (never two keys serving one database).
    const std::string decided = OrThrow(
        store_->PutSettingOnce(std::string(kMasterKeyCheckSetting), mine), "store settings");
    if (!ConstantTimeEquals(decided, mine)) {
      throw std::runtime_error(
          "another node initialized database " + database_ +
          " with its own master key at the same moment: this node's key does not match it. "
          "Refusing to start: give every node the same master key (file or "
          "GATEHOUSE_MASTER_KEY)");
    }
  }
}

std::string Instance::AdminSecretHash() {
  auto hash = OrThrow(store_->GetSetting(std::string(kAdminSecretHashSetting)), "read settings");
  if (!hash) return {};
  auto bytes = FromHex(*hash);
  if (!bytes) throw std::runtime_error("settings hold a malformed administrator hash");
  return *bytes;
}

bool Instance::HasOrganization() {
  return OrThrow(organizations_.List(OrganizationQuery{.limit = 1}), "list organizations").count >
         0;
}

bool Instance::Initialized() {
  return OrThrow(store_->GetSetting(std::string(kInitializedSetting)), "read settings").has_value();
}

std::optional<CreatedOrganization> Instance::Initialize() {
  if (Initialized()) {
    throw std::runtime_error("data directory " + config_.data_dir + " is already initialized");
  }
  return CompleteInitialization();
}

std::optional<CreatedOrganization> Instance::InitializeIfNeeded() {
  if (Initialized()) return std::nullopt;
  return CompleteInitialization();
}

void Instance::FinishPendingAdminFile() {
  // A start that stopped between storing the hash and renaming its file left the secret in
  // <admin token file>.pending-<pid>: the file whose secret has the stored hash becomes it.
  const std::filesystem::path file(config_.AdminTokenFile());
  const std::string stored = AdminSecretHash();
  const std::string prefix = file.filename().string() + std::string(kPendingAdminSuffix);
  std::error_code error;
  const auto directory = file.has_parent_path() ? file.parent_path() : ".";
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    if (!entry.path().filename().string().starts_with(prefix)) continue;
    if (ConstantTimeEquals(keyring_.Hash(FirstLine(entry.path())), stored)) {
      std::filesystem::rename(entry.path(), file);
      return;
    }
  }
}

std::optional<CreatedOrganization> Instance::CompleteInitialization() {
  if (AdminSecretHash().empty()) {
    // The secret goes to a file of this process first (written and synced), so that a stored
    // hash always has its secret somewhere; it becomes the admin token file once its hash is
    // the one stored. A node initializing at the same moment as another keeps the first one's
    // secret and drops its own file, never the other's (they may share the path).
    const std::string admin_secret = GenerateSecret(SecretKind::kSystemAdmin);
    const std::string hash = ToHex(keyring_.Hash(admin_secret));
    const std::string pending =
        config_.AdminTokenFile() + std::string(kPendingAdminSuffix) + std::to_string(::getpid());
    WriteSecretFile(pending, admin_secret);
    const std::string kept = OrThrow(
        store_->PutSettingOnce(std::string(kAdminSecretHashSetting), hash), "store settings");
    if (kept == hash) {
      std::filesystem::rename(pending, config_.AdminTokenFile());
    } else {
      std::filesystem::remove(pending);
      spdlog::warn(
          "another node initialized the database at the same moment: the administrator "
          "token is in that node's admin token file");
    }
  } else if (!Exists(config_.AdminTokenFile())) {
    FinishPendingAdminFile();
  }
  std::optional<CreatedOrganization> created;
  if (!HasOrganization()) {
    auto made = organizations_.Create(std::string(kDefaultOrganizationName), "");
    // Another node initializing at the same moment may have created it first.
    if (made) {
      created = std::move(*made);
    } else if (made.error().code() != ErrorCode::kConflict) {
      OrThrow(std::move(made), "create the Default organization");
    }
  }
  // Written last: an installation whose organizations were all deleted later stays initialized.
  OrThrow(store_->PutSetting(std::string(kInitializedSetting), FormatTimestamp(clock_.Now())),
          "store settings");
  return created;
}

}  // namespace gatehouse
