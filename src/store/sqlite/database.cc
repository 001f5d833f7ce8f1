#include "store/sqlite/database.h"

#include <stdexcept>

namespace gatehouse::sqlite {
namespace {

// SQLite keeps memory statistics by default, under a process-wide mutex taken on every one of
// its allocations (a handful per request record). Gatehouse reads none of them, so they are off;
// this must run before SQLite initializes, which the first connection does.
void ConfigureLibraryOnce() {
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);  // SQLITE_MISUSE if initialized already: harmless
    return true;
  }();
  (void)configured;
}

}  // namespace

Error SqliteError(sqlite3* db, std::string_view what) {
  // SQLITE_BUSY after the busy timeout: another connection (or process) kept the write lock.
  const ErrorCode code = db && (sqlite3_errcode(db) & 0xff) == SQLITE_BUSY ? ErrorCode::kStoreBusy
                                                                           : ErrorCode::kInternal;
  return Error(code, {}, std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "no connection"));
}

Statement& Statement::Bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::Bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<std::int64_t>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindBlob(int index, const std::optional<std::string>& bytes) {
  return bytes ? BindBlob(index, std::string_view(*bytes)) : BindNull(index);
}

Statement& Statement::BindOrNull(int index, std::string_view text) {
  return text.empty() ? BindNull(index) : Bind(index, text);
}

Statement& Statement::BindText(int index, const std::optional<std::string>& text) {
  return text ? Bind(index, std::string_view(*text)) : BindNull(index);
}

Statement& Statement::Bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<double>& value) {
  return value ? Bind(index, *value) : BindNull(index);
}

Statement& Statement::BindUncopied(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  return *this;
}

Statement& Statement::BindTextUncopied(int index, const std::optional<std::string>& text) {
  return text ? BindUncopied(index, std::string_view(*text)) : BindNull(index);
}

Result<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(SqliteError(sqlite3_db_handle(stmt_), "step"));
}

Result<bool> Statement::StepUnlessConstraint() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return true;
  // Only a UNIQUE violation means "already exists"; other constraints are internal errors.
  if (sqlite3_extended_errcode(sqlite3_db_handle(stmt_)) == SQLITE_CONSTRAINT_UNIQUE) return false;
  return std::unexpected(SqliteError(sqlite3_db_handle(stmt_), "step"));
}

Status Statement::Run() {
  auto stepped = Step();
  if (!stepped) return std::unexpected(stepped.error());
  return {};
}

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  return text
             ? std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column))
             : std::string();
}

// The text and its length from one column access (sqlite3_column_text and _bytes each make one;
// 6 % of an export's CPU). SQLite calls the value this returns unprotected: reading it is safe
// only while no other thread uses the connection, which holds for every connection here (opened
// without a mutex, each used by one thread at a time).
std::optional<std::string_view> Statement::OptionalTextView(int column) const {
  sqlite3_value* value = sqlite3_column_value(stmt_, column);
  // NULL is the only value whose text is a null pointer (an empty text is "").
  const auto* text = sqlite3_value_text(value);
  if (!text) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(text),
                          static_cast<std::size_t>(sqlite3_value_bytes(value)));
}

std::string_view Statement::TextView(int column) const {
  return OptionalTextView(column).value_or(std::string_view());
}

void Statement::ReadText(int column, std::string& out) const { out.assign(TextView(column)); }

void Statement::ReadText(int column, std::optional<std::string>& out) const {
  if (IsNull(column)) {
    out.reset();
  } else if (out) {
    out->assign(TextView(column));
  } else {
    out.emplace(TextView(column));
  }
}

std::string Statement::Blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return data ? std::string(data, sqlite3_column_bytes(stmt_, column)) : std::string();
}

std::int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::optional<std::int64_t> Statement::OptionalInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

std::optional<std::string> Statement::OptionalBlob(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Blob(column);
}

std::optional<std::string> Statement::OptionalText(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Text(column);
}

double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }

std::optional<double> Statement::OptionalDouble(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Double(column);
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Database::~Database() {
  statements_.clear();
  if (db_) sqlite3_close(db_);
}

void Database::Open(const std::string& path) {
  ConfigureLibraryOnce();
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    throw std::runtime_error("cannot open database " + path + ": " + message);
  }
  sqlite3_busy_timeout(db_, 5000);
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
        "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-65536"}) {
    if (auto done = Execute(pragma); !done) throw std::runtime_error(done.error().internal);
  }
}

Status Database::OpenReadOnly(const std::string& path) {
  ConfigureLibraryOnce();
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    return std::unexpected(SqliteError(db_, "open read-only"));
  }
  sqlite3_busy_timeout(db_, 5000);
  return Execute("PRAGMA cache_size=-16384");
}

Result<ScopedStatement> Database::Prepare(const std::string& sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) {
    it->second->Reset();
    return ScopedStatement(it->second.get());
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return std::unexpected(SqliteError(db_, "prepare"));
  }
  auto [it, inserted] = statements_.emplace(sql, std::make_unique<Statement>(stmt));
  return ScopedStatement(it->second.get());
}

Status Database::Execute(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    Error error = SqliteError(db_, "exec");
    if (message) error.internal += std::string(" (") + message + ")";
    sqlite3_free(message);
    return std::unexpected(std::move(error));
  }
  return {};
}

void Database::ReleaseCache() { sqlite3_db_release_memory(db_); }

Transaction::Transaction(Database& db) : db_(db), begun_(db.Execute("BEGIN IMMEDIATE")) {}

Transaction::~Transaction() {
  if (begun_ && !done_) (void)db_.Execute("ROLLBACK");
}

Status Transaction::Commit() {
  auto committed = db_.Execute("COMMIT");
  if (committed) done_ = true;
  return committed;
}

}  // namespace gatehouse::sqlite
