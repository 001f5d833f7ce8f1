#ifndef GATEHOUSE_STORE_SQLITE_DATABASE_H_
#define GATEHOUSE_STORE_SQLITE_DATABASE_H_

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"

namespace gatehouse::sqlite {

// A prepared statement owned by its Database (see Database::Prepare). Bind indexes start at 1,
// column indexes at 0. Not thread-safe: used under the owning store's lock.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, std::int64_t value);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);
  Statement& Bind(int index, const std::optional<std::int64_t>& value);
  Statement& BindBlob(int index, const std::optional<std::string>& bytes);
  // Binds an empty string as NULL (for nullable text columns such as project_id).
  Statement& BindOrNull(int index, std::string_view text);
  Statement& BindText(int index, const std::optional<std::string>& text);
  Statement& Bind(int index, double value);
  Statement& Bind(int index, const std::optional<double>& value);
  // Like Bind and BindText without copying the text: `text` must stay alive and unchanged until
  // the statement is reset or the parameter bound again (a batch's records while it is stored).
  Statement& BindUncopied(int index, std::string_view text);
  Statement& BindTextUncopied(int index, const std::optional<std::string>& text);

  // true while a row is available; kInternal on any SQLite error.
  Result<bool> Step();
  // Like Step for writes: returns false when a UNIQUE constraint refused the row (any other
  // failure, including other constraints, is kInternal).
  Result<bool> StepUnlessConstraint();
  // Runs a write to completion.
  Status Run();

  std::string Text(int column) const;
  // The column's text without a copy, valid until the next Step, Reset or column read.
  std::string_view TextView(int column) const;
  // Like TextView, with nullopt for NULL.
  std::optional<std::string_view> OptionalTextView(int column) const;
  // Assigns the column's text (nullopt for NULL) into `out`, reusing its capacity.
  void ReadText(int column, std::string& out) const;
  void ReadText(int column, std::optional<std::string>& out) const;
  std::string Blob(int column) const;
  std::int64_t Int(int column) const;
  bool IsNull(int column) const;
  std::optional<std::int64_t> OptionalInt(int column) const;
  std::optional<std::string> OptionalBlob(int column) const;
  std::optional<std::string> OptionalText(int column) const;
  double Double(int column) const;
  std::optional<double> OptionalDouble(int column) const;

  void Reset();

 private:
  sqlite3_stmt* stmt_;
};

// A borrowed cached statement that is reset when the borrow ends, so that no finished or
// abandoned query keeps a read transaction (and with it an old WAL snapshot) open.
class ScopedStatement {
 public:
  explicit ScopedStatement(Statement* statement) : statement_(statement) {}
  ScopedStatement(ScopedStatement&& other) noexcept
      : statement_(std::exchange(other.statement_, nullptr)) {}
  ScopedStatement& operator=(ScopedStatement&&) = delete;
  ~ScopedStatement() {
    if (statement_) statement_->Reset();
  }

  Statement* operator->() const { return statement_; }
  Statement& operator*() const { return *statement_; }

 private:
  Statement* statement_;
};

// An open SQLite connection with a cache of prepared statements. Not thread-safe.
class Database {
 public:
  Database() = default;
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Opens (creating) `path` in WAL mode with foreign keys on. Throws std::runtime_error:
  // called at start-up only.
  void Open(const std::string& path);
  // Opens `path` read-only for a long read; kInternal on failure.
  Status OpenReadOnly(const std::string& path);

  // A reset, cleared statement for `sql`, prepared once per connection and reused; it is
  // reset again when the returned borrow goes out of scope.
  Result<ScopedStatement> Prepare(const std::string& sql);
  // Runs SQL text that has no parameters (migrations, BEGIN/COMMIT).
  Status Execute(const std::string& sql);
  // Frees this connection's page cache (after a read of a whole table that nothing rereads
  // soon); later reads take their pages from the file again.
  void ReleaseCache();

  sqlite3* handle() const { return db_; }
  // Rows the last finished INSERT, UPDATE or DELETE of this connection changed.
  std::int64_t ChangedRows() const { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> statements_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  const Status& begun() const { return begun_; }
  Status Commit();

 private:
  Database& db_;
  Status begun_;
  bool done_ = false;
};

Error SqliteError(sqlite3* db, std::string_view what);

}  // namespace gatehouse::sqlite

#endif  // GATEHOUSE_STORE_SQLITE_DATABASE_H_
