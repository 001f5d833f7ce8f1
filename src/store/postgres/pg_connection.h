#ifndef GATEHOUSE_STORE_POSTGRES_PG_CONNECTION_H_
#define GATEHOUSE_STORE_POSTGRES_PG_CONNECTION_H_

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

// A thin RAII layer over libpq for the PostgreSQL store: one blocking connection, text-format
// parameters and results, and PostgreSQL errors turned into the store's errors.
namespace gatehouse::pg {

// A PostgreSQL array literal ('{"a",NULL,3}') built one element at a time, for a parameter such
// as `unnest($1::text[])` that carries one column of many rows.
class ArrayLiteral {
 public:
  ArrayLiteral() : literal_("{") {}

  // Quoted. A NUL character, which PostgreSQL text cannot hold, and a byte that begins no valid
  // UTF-8 code point (which would fail the statement) become U+FFFD.
  ArrayLiteral& Text(std::string_view value);
  ArrayLiteral& OptionalText(const std::optional<std::string>& value) {
    return value ? Text(*value) : Null();
  }
  ArrayLiteral& Int(std::int64_t value);
  ArrayLiteral& OptionalInt(const std::optional<std::int64_t>& value) {
    return value ? Int(*value) : Null();
  }
  ArrayLiteral& Real(double value);
  // Raw bytes, as bytea's hex form (for a bytea[] parameter).
  ArrayLiteral& Bytes(std::string_view value);
  ArrayLiteral& OptionalBytes(const std::optional<std::string>& value) {
    return value ? Bytes(*value) : Null();
  }
  ArrayLiteral& Null();

  // The literal; the builder is left empty.
  std::string Take();

 private:
  void Separate() {
    if (literal_.size() > 1) literal_.push_back(',');
  }
  std::string literal_;
};

// The parameters of one statement ($1, $2, ...), all sent as text; nullopt sends NULL.
class Params {
 public:
  // As ArrayLiteral::Text: a NUL or a byte that begins no valid UTF-8 code point becomes U+FFFD.
  Params& Text(std::string_view value);
  Params& Int(std::int64_t value);
  Params& Real(double value);
  Params& Bool(bool value) { return Int(value ? 1 : 0); }
  // Raw bytes as a bytea literal (hex).
  Params& Bytes(std::string_view value);
  Params& Null();
  Params& OptionalText(const std::optional<std::string>& value);
  Params& OptionalInt(const std::optional<std::int64_t>& value);
  Params& OptionalReal(const std::optional<double>& value);
  Params& OptionalBytes(const std::optional<std::string>& value);
  // A PostgreSQL array literal of texts ('{"a","b"}'), for `= ANY($n::text[])`.
  Params& TextArray(const std::vector<std::string>& values);
  Params& IntArray(const std::vector<std::int64_t>& values);
  // Takes the literal `array` has built (leaving it empty).
  Params& Array(ArrayLiteral& array);

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers for PQexecParams, valid while this object lives unchanged.
  std::vector<const char*> Pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
};

// The rows of one statement's result (owns the PGresult).
class Rows {
 public:
  Rows() = default;
  explicit Rows(PGresult* result) : result_(result) {}

  int size() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool empty() const { return size() == 0; }
  // Rows changed by an INSERT, UPDATE or DELETE.
  std::int64_t affected() const;

  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string_view TextView(int row, int column) const;
  std::string Text(int row, int column) const { return std::string(TextView(row, column)); }
  std::optional<std::string> OptionalText(int row, int column) const;
  std::optional<std::string_view> OptionalTextView(int row, int column) const;
  std::int64_t Int(int row, int column) const;
  std::optional<std::int64_t> OptionalInt(int row, int column) const;
  double Real(int row, int column) const;
  std::optional<double> OptionalReal(int row, int column) const;
  bool Bool(int row, int column) const;
  // A bytea column (hex output) decoded to its bytes.
  std::string Bytes(int row, int column) const;
  std::optional<std::string> OptionalBytes(int row, int column) const;

 private:
  struct Clear {
    void operator()(PGresult* result) const { PQclear(result); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

// What PostgreSQL said about a failed statement, for callers that act on a constraint.
struct Failure {
  std::string sqlstate;    // e.g. "23505"; empty when the connection failed
  std::string constraint;  // the violated constraint's name, when there is one
};

class Connection {
 public:
  // Connects to `url` (a postgres:// URL or conninfo string) with the session settings of
  // the store; kStoreUnavailable when the database cannot be reached.
  static Result<std::unique_ptr<Connection>> Open(const std::string& url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement. On failure the error maps SQLSTATE to the store's codes (see
  // ErrorFromFailure) and last_failure() says what PostgreSQL reported.
  Result<Rows> Exec(std::string_view sql, const Params& params = {});
  Status Run(std::string_view sql, const Params& params = {});
  // Runs SQL text with no parameters, possibly several statements (migrations).
  Status RunScript(std::string_view sql);
  // Runs the query `sql` through a cursor in one read transaction, handing its rows to `visit`
  // `chunk_rows` at a time, so that a result of a million rows never sits in memory at once.
  Status ForEachChunk(std::string_view sql, const Params& params, int chunk_rows,
                      const std::function<void(const Rows&)>& visit);

  const Failure& last_failure() const { return failure_; }
  // True once the connection is lost: a pool discards it instead of reusing it.
  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  // For an idle connection: false when the server has closed it meanwhile (restarted, or
  // ended the session), which shows as a readable socket. One poll(2), no round trip.
  // Not for a connection that LISTENs (notifications arrive while it is idle).
  bool StillOpen();
  PGconn* handle() const { return conn_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Error ErrorOf(PGresult* result, std::string_view sql);

  PGconn* conn_;
  Failure failure_;
};

// BEGIN on construction; ROLLBACK on destruction unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  const Status& begun() const { return begun_; }
  Status Commit();

 private:
  Connection& connection_;
  Status begun_;
  bool done_ = false;
};

// The store's error for a PostgreSQL failure: lost connection or server shutting down =>
// kStoreUnavailable; lock or statement timeout => kStoreBusy; anything else kInternal with
// the SQLSTATE and message in the internal text (never shown to clients).
Error ErrorFromFailure(const Failure& failure, std::string internal);

// `url` with any password replaced by "***", for logs and errors.
std::string RedactUrl(const std::string& url);
// True when `value` names a PostgreSQL store (postgres:// or postgresql:// URL).
bool IsPostgresUrl(std::string_view value);

}  // namespace gatehouse::pg

#endif  // GATEHOUSE_STORE_POSTGRES_PG_CONNECTION_H_
