#include "pg_test_database.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <string>

#include "store/postgres/pg_connection.h"

namespace gatehouse {
namespace {

TEST(PgTestDatabaseTest, CreatesAFreshDatabase) {
  PgTestDatabase db;
  if (!db.available()) GTEST_SKIP() << db.skip_reason();
  EXPECT_EQ(db.url(), PgTestDatabase::WithDatabase(db.cluster_url(), db.name()));

  std::unique_ptr<PGconn, decltype(&PQfinish)> connection(PQconnectdb(db.url().c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(connection.get()), CONNECTION_OK) << PQerrorMessage(connection.get());
  std::unique_ptr<PGresult, decltype(&PQclear)> result(
      PQexec(connection.get(), "SELECT 1, current_database()"), &PQclear);
  ASSERT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << PQerrorMessage(connection.get());
  EXPECT_STREQ(PQgetvalue(result.get(), 0, 0), "1");
  EXPECT_EQ(PQgetvalue(result.get(), 0, 1), db.name());
  // Fresh: no table of its own.
  result.reset(
      PQexec(connection.get(), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"));
  ASSERT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << PQerrorMessage(connection.get());
  EXPECT_STREQ(PQgetvalue(result.get(), 0, 0), "0");
}

TEST(PgTestDatabaseTest, IsDroppedWithItsConnectionsStillOpen) {
  std::string cluster_url;
  std::string name;
  std::unique_ptr<PGconn, decltype(&PQfinish)> left_open(nullptr, &PQfinish);
  {
    PgTestDatabase db;
    if (!db.available()) GTEST_SKIP() << db.skip_reason();
    cluster_url = db.cluster_url();
    name = db.name();
    left_open.reset(PQconnectdb(db.url().c_str()));
    ASSERT_EQ(PQstatus(left_open.get()), CONNECTION_OK) << PQerrorMessage(left_open.get());
  }
  std::unique_ptr<PGconn, decltype(&PQfinish)> admin(PQconnectdb(cluster_url.c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(admin.get()), CONNECTION_OK) << PQerrorMessage(admin.get());
  const std::string sql = "SELECT count(*) FROM pg_database WHERE datname = '" + name + "'";
  std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(admin.get(), sql.c_str()), &PQclear);
  ASSERT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << PQerrorMessage(admin.get());
  EXPECT_STREQ(PQgetvalue(result.get(), 0, 0), "0");
}

TEST(PgTestDatabaseTest, WithDatabaseKeepsUserHostPortAndParameters) {
  EXPECT_EQ(PgTestDatabase::WithDatabase("postgresql://gatehouse@127.0.0.1:5432/postgres", "gh_1"),
            "postgresql://gatehouse@127.0.0.1:5432/gh_1");
  EXPECT_EQ(PgTestDatabase::WithDatabase("postgresql://u@h:1/db?sslmode=disable", "x"),
            "postgresql://u@h:1/x?sslmode=disable");
  EXPECT_EQ(PgTestDatabase::WithDatabase("postgresql://u@h:1", "x"), "postgresql://u@h:1/x");
}

// Every place libpq takes a password from is hidden in what is shown (logs, start-up errors).
TEST(PgRedactUrl, HidesThePasswordOfTheUserInfoAndOfTheParameters) {
  EXPECT_EQ(pg::RedactUrl("postgresql://gh:s3cret@db:5432/gh"), "postgresql://gh:***@db:5432/gh");
  EXPECT_EQ(pg::RedactUrl("postgres://gh@db/gh?password=s3cret&sslmode=require"),
            "postgres://gh@db/gh?password=***&sslmode=require");
  EXPECT_EQ(pg::RedactUrl("postgres://db/gh?sslmode=require&sslpassword=k3y&password=p@ss"),
            "postgres://db/gh?sslmode=require&sslpassword=***&password=***");
  EXPECT_EQ(pg::RedactUrl("postgres://gh:pa?ss@db/gh"), "postgres://gh:***@db/gh");
  EXPECT_EQ(pg::RedactUrl("postgres://gh:p&password=x@db/gh?password=y"),
            "postgres://gh:***@db/gh?password=***");
  EXPECT_EQ(pg::RedactUrl("postgres://gh@db/gh?application_name=x"),
            "postgres://gh@db/gh?application_name=x");
}

}  // namespace
}  // namespace gatehouse
