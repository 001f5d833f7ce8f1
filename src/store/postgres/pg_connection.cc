#include "store/postgres/pg_connection.h"

#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "core/text.h"

namespace gatehouse::pg {
namespace {

// Every connection of the store: a statement or lock wait never outlasts the store's write
// budget by much, and a transaction left open by a stuck client is ended by the server.
constexpr const char* kSessionSettings =
    "SET statement_timeout = '5s'; SET lock_timeout = '2s'; "
    "SET idle_in_transaction_session_timeout = '10s'; SET TIME ZONE 'UTC'; "
    // Short statements only: compiling one costs more than it saves (40 ms seen per search).
    "SET jit = off";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea's hex input form: \x then two hex digits a byte.
std::string ByteaLiteral(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string literal = "\\x";
  literal.reserve(2 + value.size() * 2);
  for (unsigned char c : value) {
    literal.push_back(kHex[c >> 4]);
    literal.push_back(kHex[c & 15]);
  }
  return literal;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Appends `value` as text PostgreSQL accepts: a NUL, which its text cannot hold, and each byte
// that does not begin a valid UTF-8 code point (which the server would refuse, failing the whole
// statement) become U+FFFD. `in_array` escapes quote and backslash for an array item.
void AppendText(std::string& out, std::string_view value, bool in_array) {
  std::size_t at = 0;
  while (at < value.size()) {
    const char c = value[at];
    if (static_cast<unsigned char>(c) < 0x80) {
      if (c == '\0') {
        out += kReplacement;
      } else {
        if (in_array && (c == '"' || c == '\\')) out.push_back('\\');
        out.push_back(c);
      }
      ++at;
      continue;
    }
    const std::size_t length = Utf8CodePointLength(value.substr(at));
    if (length == 0) {
      out += kReplacement;
      ++at;
    } else {
      out.append(value, at, length);
      at += length;
    }
  }
}

std::string QuoteArrayItem(std::string_view value) {
  std::string quoted = "\"";
  AppendText(quoted, value, true);
  quoted.push_back('"');
  return quoted;
}

// Appends `value` to `out` as shortest text that reads back to the same double.
void AppendReal(std::string& out, double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

}  // namespace

ArrayLiteral& ArrayLiteral::Text(std::string_view value) {
  Separate();
  literal_.push_back('"');
  AppendText(literal_, value, true);
  literal_.push_back('"');
  return *this;
}

ArrayLiteral& ArrayLiteral::Int(std::int64_t value) {
  Separate();
  literal_ += std::to_string(value);
  return *this;
}

ArrayLiteral& ArrayLiteral::Real(double value) {
  Separate();
  AppendReal(literal_, value);
  return *this;
}

ArrayLiteral& ArrayLiteral::Bytes(std::string_view value) {
  Separate();
  literal_ += QuoteArrayItem(ByteaLiteral(value));
  return *this;
}

ArrayLiteral& ArrayLiteral::Null() {
  Separate();
  literal_ += "NULL";
  return *this;
}

std::string ArrayLiteral::Take() {
  std::string literal = std::move(literal_);
  literal.push_back('}');
  literal_ = "{";
  return literal;
}

Params& Params::Text(std::string_view value) {
  std::string text;
  text.reserve(value.size());
  AppendText(text, value, false);
  values_.emplace_back(std::move(text));
  return *this;
}

Params& Params::Int(std::int64_t value) {
  values_.emplace_back(std::to_string(value));
  return *this;
}

Params& Params::Real(double value) {
  std::string text;
  AppendReal(text, value);
  values_.emplace_back(std::move(text));
  return *this;
}

Params& Params::Bytes(std::string_view value) {
  values_.emplace_back(ByteaLiteral(value));
  return *this;
}

Params& Params::Null() {
  values_.emplace_back(std::nullopt);
  return *this;
}

Params& Params::OptionalText(const std::optional<std::string>& value) {
  return value ? Text(*value) : Null();
}

Params& Params::OptionalInt(const std::optional<std::int64_t>& value) {
  return value ? Int(*value) : Null();
}

Params& Params::OptionalReal(const std::optional<double>& value) {
  return value ? Real(*value) : Null();
}

Params& Params::OptionalBytes(const std::optional<std::string>& value) {
  return value ? Bytes(*value) : Null();
}

Params& Params::TextArray(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) literal.push_back(',');
    literal += QuoteArrayItem(values[i]);
  }
  literal.push_back('}');
  values_.emplace_back(std::move(literal));
  return *this;
}

Params& Params::IntArray(const std::vector<std::int64_t>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) literal.push_back(',');
    literal += std::to_string(values[i]);
  }
  literal.push_back('}');
  values_.emplace_back(std::move(literal));
  return *this;
}

Params& Params::Array(ArrayLiteral& array) {
  values_.emplace_back(array.Take());
  return *this;
}

std::vector<const char*> Params::Pointers() const {
  std::vector<const char*> pointers;
  pointers.reserve(values_.size());
  for (const auto& value : values_) pointers.push_back(value ? value->c_str() : nullptr);
  return pointers;
}

std::int64_t Rows::affected() const {
  const char* tuples = result_ ? PQcmdTuples(result_.get()) : "";
  std::int64_t count = 0;
  std::from_chars(tuples, tuples + std::char_traits<char>::length(tuples), count);
  return count;
}

std::string_view Rows::TextView(int row, int column) const {
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

std::optional<std::string> Rows::OptionalText(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Text(row, column);
}

std::optional<std::string_view> Rows::OptionalTextView(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return TextView(row, column);
}

std::int64_t Rows::Int(int row, int column) const {
  const std::string_view text = TextView(row, column);
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::optional<std::int64_t> Rows::OptionalInt(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Int(row, column);
}

double Rows::Real(int row, int column) const {
  const std::string_view text = TextView(row, column);
  double value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::optional<double> Rows::OptionalReal(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Real(row, column);
}

bool Rows::Bool(int row, int column) const {
  const std::string_view text = TextView(row, column);
  return text == "t" || text == "1" || text == "true";
}

std::string Rows::Bytes(int row, int column) const {
  const std::string_view text = TextView(row, column);
  std::string bytes;
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x') return bytes;
  bytes.reserve((text.size() - 2) / 2);
  for (std::size_t i = 2; i + 1 < text.size(); i += 2) {
    const int high = HexValue(text[i]);
    const int low = HexValue(text[i + 1]);
    if (high < 0 || low < 0) break;
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

std::optional<std::string> Rows::OptionalBytes(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Bytes(row, column);
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& url) {
  // The URL's own parameters win; these only fill in what it leaves out.
  const char* keys[] = {"dbname",
                        "connect_timeout",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "application_name",
                        nullptr};
  const char* values[] = {url.c_str(), "3", "5", "2", "2", "gatehouse", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!conn) return Fail(ErrorCode::kStoreUnavailable, {}, "out of memory for a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return Fail(ErrorCode::kStoreUnavailable, {},
                "cannot connect to " + RedactUrl(url) + ": " + message);
  }
  // Notices ("relation already exists, skipping") are not errors: keep them off stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  std::unique_ptr<Connection> connection(new Connection(conn));
  if (auto set = connection->RunScript(kSessionSettings); !set) return std::unexpected(set.error());
  return connection;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::StillOpen() {
  pollfd socket{PQsocket(conn_), POLLIN, 0};
  if (socket.fd < 0) return false;
  // An idle session receives nothing but the server's goodbye (FATAL 57P01 on a shutdown,
  // then EOF): anything readable means it is over, or about to be.
  return ::poll(&socket, 1, 0) == 0;
}

Error Connection::ErrorOf(PGresult* result, std::string_view sql) {
  failure_ = Failure{};
  std::string message;
  if (result) {
    if (const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE)) failure_.sqlstate = state;
    if (const char* name = PQresultErrorField(result, PG_DIAG_CONSTRAINT_NAME)) {
      failure_.constraint = name;
    }
    message = PQresultErrorMessage(result);
  }
  if (message.empty()) message = PQerrorMessage(conn_);
  if (broken()) failure_.sqlstate.clear();
  std::string shown(sql.substr(0, 120));
  return ErrorFromFailure(failure_, message + " in: " + shown);
}

Result<Rows> Connection::Exec(std::string_view sql, const Params& params) {
  const std::string text(sql);
  const auto pointers = params.Pointers();
  PGresult* result = PQexecParams(conn_, text.c_str(), params.size(), nullptr, pointers.data(),
                                  nullptr, nullptr, 0);
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Error error = ErrorOf(result, sql);
    PQclear(result);
    return std::unexpected(std::move(error));
  }
  return Rows(result);
}

Status Connection::Run(std::string_view sql, const Params& params) {
  auto rows = Exec(sql, params);
  if (!rows) return std::unexpected(rows.error());
  return {};
}

Status Connection::RunScript(std::string_view sql) {
  const std::string text(sql);
  PGresult* result = PQexec(conn_, text.c_str());
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Error error = ErrorOf(result, sql);
    PQclear(result);
    return std::unexpected(std::move(error));
  }
  PQclear(result);
  return {};
}

Status Connection::ForEachChunk(std::string_view sql, const Params& params, int chunk_rows,
                                const std::function<void(const Rows&)>& visit) {
  Transaction transaction(*this);
  if (!transaction.begun()) return transaction.begun();
  if (auto declared = Run("DECLARE chunked NO SCROLL CURSOR FOR " + std::string(sql), params);
      !declared) {
    return declared;
  }
  const std::string fetch = "FETCH " + std::to_string(chunk_rows) + " FROM chunked";
  for (;;) {
    auto rows = Exec(fetch);
    if (!rows) return std::unexpected(rows.error());
    if (rows->empty()) break;
    visit(*rows);
    if (rows->size() < chunk_rows) break;
  }
  return transaction.Commit();
}

Transaction::Transaction(Connection& connection) : connection_(connection) {
  begun_ = connection_.RunScript("BEGIN");
}

Transaction::~Transaction() {
  if (begun_ && !done_) (void)connection_.RunScript("ROLLBACK");
}

Status Transaction::Commit() {
  if (!begun_) return begun_;
  done_ = true;
  return connection_.RunScript("COMMIT");
}

Error ErrorFromFailure(const Failure& failure, std::string internal) {
  const std::string& state = failure.sqlstate;
  if (state.empty() || state.starts_with("08") || state == "57P01" || state == "57P02" ||
      state == "57P03") {
    return Error(ErrorCode::kStoreUnavailable, {}, std::move(internal));
  }
  if (state == "55P03" || state == "57014" || state == "40001" || state == "40P01") {
    return Error(ErrorCode::kStoreBusy, {}, std::move(internal));
  }
  return Error(ErrorCode::kInternal, {}, "postgres " + state + ": " + std::move(internal));
}

std::string RedactUrl(const std::string& url) {
  // postgres://user:password@host/db?password=...&sslpassword=...: libpq takes a password in
  // the user info and in two parameters; each is shown as ***. The user info ends at the first
  // '@' before any '/' (libpq's own reading: a password may hold '?' or ':', not '/').
  std::string shown = url;
  const std::size_t scheme = shown.find("://");
  if (scheme == std::string::npos) return shown;
  const std::size_t authority = scheme + 3;
  const std::size_t at = shown.find_first_of("@/", authority);
  std::size_t rest = authority;  // where the host begins
  if (at != std::string::npos && shown[at] == '@') {
    const std::size_t colon = shown.find(':', authority);
    if (colon < at) shown = shown.substr(0, colon + 1) + "***" + shown.substr(at);
    rest = shown.find('@', authority) + 1;
  }
  for (std::size_t start = shown.find('?', rest); start != std::string::npos;
       start = shown.find('&', start + 1)) {
    const std::size_t end = std::min(shown.find('&', start + 1), shown.size());
    const std::string_view parameter = std::string_view(shown).substr(start + 1, end - start - 1);
    if (parameter.starts_with("password=") || parameter.starts_with("sslpassword=")) {
      const std::size_t value = start + 1 + parameter.find('=') + 1;
      shown.replace(value, end - value, "***");
    }
  }
  return shown;
}

bool IsPostgresUrl(std::string_view value) {
  return value.starts_with("postgres://") || value.starts_with("postgresql://");
}

}  // namespace gatehouse::pg
