#ifndef GATEHOUSE_TESTS_UNIT_PG_TEST_DATABASE_H_
#define GATEHOUSE_TESTS_UNIT_PG_TEST_DATABASE_H_

#include <string>

namespace gatehouse {

// A fresh, empty PostgreSQL database of its own in the test cluster, dropped when the object
// goes (DROP DATABASE ... WITH (FORCE), so connections left open do not keep it).
//
// The cluster is the CTest fixture `pg` (tests/pg/pg_cluster.py): entries with FIXTURES_REQUIRED
// pg get GATEHOUSE_TEST_PG_DIR, whose file `url` names the cluster. Without that variable, or
// without the file (the fixture skipped: PostgreSQL is not installed), available() is false and
// the test skips itself, saying why:
//
//   PgTestDatabase db;
//   if (!db.available()) GTEST_SKIP() << db.skip_reason();
//   PgStore store(db.url());
//
// Test suites that need it are named Pg* (PgStoreTest, PgMigrationTest, ...): only those run as
// the pg_unit entries with the fixture (tests/CMakeLists.txt). When the cluster is there but the
// database cannot be made, the constructor throws std::runtime_error (a failure, not a skip).
class PgTestDatabase {
 public:
  // `prefix` starts the database's name: prefix_<16 random hex digits>, [a-z0-9_] only.
  explicit PgTestDatabase(const std::string& prefix = "gh");
  ~PgTestDatabase();
  PgTestDatabase(const PgTestDatabase&) = delete;
  PgTestDatabase& operator=(const PgTestDatabase&) = delete;

  bool available() const { return !url_.empty(); }
  // Why available() is false; empty when it is true.
  const std::string& skip_reason() const { return skip_reason_; }
  // postgresql://gatehouse@127.0.0.1:PORT/<name>, for the store under test.
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // The cluster's own url (database `postgres`), for a second fresh database or an admin query.
  const std::string& cluster_url() const { return cluster_url_; }

  // Runs `sql` on url() on a connection of its own; throws std::runtime_error with the server's
  // message when it fails. For test set-up, not for the code under test.
  void Execute(const std::string& sql) const;

  // `url` with its database replaced by `database` (user, host, port and parameters kept).
  static std::string WithDatabase(const std::string& url, const std::string& database);

 private:
  std::string skip_reason_;
  std::string cluster_url_;
  std::string name_;
  std::string url_;
};

}  // namespace gatehouse

#endif  // GATEHOUSE_TESTS_UNIT_PG_TEST_DATABASE_H_
