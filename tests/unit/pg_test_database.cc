#include "pg_test_database.h"

#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>

namespace gatehouse {
namespace {

struct ConnectionCloser {
  void operator()(PGconn* connection) const { PQfinish(connection); }
};
struct ResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Connection = std::unique_ptr<PGconn, ConnectionCloser>;
using Result = std::unique_ptr<PGresult, ResultClearer>;

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// Runs `sql` on a new connection to `url`; the error message, or "" on success.
std::string Run(const std::string& url, const std::string& sql) {
  Connection connection(PQconnectdb(url.c_str()));
  if (connection == nullptr) return "PQconnectdb: out of memory";
  if (PQstatus(connection.get()) != CONNECTION_OK) {
    return "connecting to " + url + ": " + Trimmed(PQerrorMessage(connection.get()));
  }
  Result result(PQexec(connection.get(), sql.c_str()));
  const auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return sql + ": " + Trimmed(PQerrorMessage(connection.get()));
  }
  return "";
}

std::string RandomHex(int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::uniform_int_distribution<int> digit(0, 15);
  std::string out;
  for (int i = 0; i < digits; ++i) out += kHex[digit(device)];
  return out;
}

}  // namespace

std::string PgTestDatabase::WithDatabase(const std::string& url, const std::string& database) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) throw std::invalid_argument("not a url: " + url);
  const auto path = url.find_first_of("/?", scheme + 3);
  const auto query = url.find('?', scheme + 3);
  const std::string authority = url.substr(0, path);
  const std::string parameters = query == std::string::npos ? "" : url.substr(query);
  return authority + "/" + database + parameters;
}

PgTestDatabase::PgTestDatabase(const std::string& prefix) {
  const char* directory = std::getenv("GATEHOUSE_TEST_PG_DIR");
  if (directory == nullptr || *directory == '\0') {
    skip_reason_ =
        "GATEHOUSE_TEST_PG_DIR is not set: PostgreSQL tests run under CTest (ctest -L pg_unit), "
        "which starts a cluster for them";
    return;
  }
  const std::filesystem::path url_file = std::filesystem::path(directory) / "url";
  std::ifstream in(url_file);
  std::string cluster_url;
  if (!in || !std::getline(in, cluster_url) || Trimmed(cluster_url).empty()) {
    skip_reason_ = "no PostgreSQL cluster in " + std::string(directory) +
                   " (no url file; pg_cluster_start skipped? PostgreSQL not installed: run "
                   "scripts/setup)";
    return;
  }
  cluster_url_ = Trimmed(cluster_url);
  name_ = prefix + "_" + RandomHex(16);
  if (const auto error = Run(cluster_url_, "CREATE DATABASE " + name_); !error.empty()) {
    throw std::runtime_error("PgTestDatabase: " + error);
  }
  url_ = WithDatabase(cluster_url_, name_);
}

PgTestDatabase::~PgTestDatabase() {
  if (!available()) return;
  if (const auto error = Run(cluster_url_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
      !error.empty()) {
    std::fprintf(stderr, "PgTestDatabase: %s\n", error.c_str());
  }
}

void PgTestDatabase::Execute(const std::string& sql) const {
  if (!available()) throw std::logic_error("PgTestDatabase::Execute: " + skip_reason_);
  if (const auto error = Run(url_, sql); !error.empty()) {
    throw std::runtime_error("PgTestDatabase: " + error);
  }
}

}  // namespace gatehouse
