#include "app/instance.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "pg_test_database.h"
#include "store/postgres/pg_store.h"
#include "temp_dir.h"

namespace gatehouse {
namespace {

ServerConfig ConfigIn(const std::filesystem::path& dir) {
  ServerConfig config;
  config.data_dir = dir.string();
  return config;
}

unsigned ModeOf(const std::filesystem::path& path) {
  struct stat info;
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

// The message of the std::runtime_error that opening `config` throws; empty when it opens.
std::string OpenError(const ServerConfig& config, DataDirUse use = DataDirUse::kServe) {
  const ManualClock clock(1'700'000'000'000);
  try {
    Instance instance(config, clock, use);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

void Initialize(const ServerConfig& config) {
  const ManualClock clock(1'700'000'000'000);
  Instance instance(config, clock, DataDirUse::kInit);
  instance.Initialize();
}

}  // namespace

// Issue 12, item 8.
TEST(Instance, CreatesItsDataDirectory0700AndItsDatabase0600) {
  const TempDir dir;
  const ServerConfig config = ConfigIn(dir.path() / "data");
  Initialize(config);
  EXPECT_EQ(ModeOf(config.data_dir), 0700u);
  EXPECT_EQ(ModeOf(config.DatabaseFile()), 0600u);
  EXPECT_EQ(ModeOf(config.MasterKeyFile()), 0600u);
  EXPECT_EQ(ModeOf(config.AdminTokenFile()), 0600u);
}

TEST(Instance, RefusesAMasterKeyFileReadableByOthers) {
  const TempDir dir;
  const ServerConfig config = ConfigIn(dir.path() / "data");
  Initialize(config);
  ::chmod(config.MasterKeyFile().c_str(), 0640);
  const std::string message = OpenError(config);
  EXPECT_NE(message.find(config.MasterKeyFile()), std::string::npos) << message;
  EXPECT_NE(message.find("chmod 600"), std::string::npos) << message;
}

// Issue 12, item 4.
TEST(Instance, RefusesAMissingDatabaseBesideAnExistingMasterKey) {
  const TempDir dir;
  const ServerConfig config = ConfigIn(dir.path() / "data");
  Initialize(config);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(config.DatabaseFile() + suffix);
  }
  const std::string message = OpenError(config);
  EXPECT_NE(message.find(config.DatabaseFile() + " is missing"), std::string::npos) << message;
  EXPECT_NE(message.find(config.MasterKeyFile()), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(config.DatabaseFile()));
  EXPECT_EQ(OpenError(config, DataDirUse::kForceInit), "");
}

TEST(Instance, RefusesAMasterKeyThatDoesNotMatchTheDatabase) {
  const TempDir dir;
  const ServerConfig config = ConfigIn(dir.path() / "data");
  Initialize(config);
  dir.WriteFile("other.key", std::string(64, 'a') + "\n");
  ::chmod((dir.path() / "other.key").c_str(), 0600);
  ServerConfig foreign = config;
  foreign.master_key_file = (dir.path() / "other.key").string();
  const std::string message = OpenError(foreign);
  EXPECT_NE(message.find("does not match database " + config.DatabaseFile()), std::string::npos)
      << message;
  EXPECT_EQ(OpenError(config), "");
}

TEST(Instance, OperatorCommandsNeedAnInitializedDataDirectory) {
  const TempDir dir;
  const ServerConfig config = ConfigIn(dir.path() / "absent");
  EXPECT_NE(OpenError(config, DataDirUse::kExisting).find("does not exist"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(config.data_dir));
}

// Issue 12, item 4, on PostgreSQL: a database that holds no installation (new, emptied or
// another one) beside a master key file is a lost database, as a missing gatehouse.db is.
TEST(PgInstance, RefusesAnEmptyDatabaseBesideAnExistingMasterKey) {
  PgTestDatabase db;
  if (!db.available()) GTEST_SKIP() << db.skip_reason();
  const TempDir dir;
  ServerConfig config = ConfigIn(dir.path() / "data");
  config.store = db.url();
  Initialize(config);
  db.Execute("DELETE FROM settings");
  const std::string message = OpenError(config);
  EXPECT_NE(message.find(db.url() + " is empty"), std::string::npos) << message;
  EXPECT_NE(message.find(config.MasterKeyFile()), std::string::npos) << message;
  EXPECT_NE(OpenError(config, DataDirUse::kExisting).find("is not initialized"), std::string::npos);
  EXPECT_EQ(OpenError(config, DataDirUse::kForceInit), "");
}

TEST(PgInstance, OpensANewDatabaseForANewDataDirectory) {
  PgTestDatabase db;
  if (!db.available()) GTEST_SKIP() << db.skip_reason();
  const TempDir dir;
  ServerConfig config = ConfigIn(dir.path() / "data");
  config.store = db.url();
  EXPECT_EQ(OpenError(config), "");
  EXPECT_EQ(OpenError(config), "") << "the first open leaves the key's check value";
}

// Nodes started at once on a new database, each with a data directory of its own (so each with
// a master key of its own): the first to store its key's check value decides, and a node
// whose key is another refuses to start. None ever serves the database with another key, and
// exactly one Default organization is created.
TEST(PgInstance, NodesStartingAtOnceOnANewDatabaseNeverServeWithTwoKeys) {
  PgTestDatabase db;
  if (!db.available()) GTEST_SKIP() << db.skip_reason();
  const TempDir dir;
  // Migrated first, as by a node started earlier: the nodes below then meet only in the checks.
  { PgStore migrated(PgStore::Options{.url = db.url()}); }
  constexpr int kNodes = 6;
  std::vector<std::string> served(kNodes);  // each started node's check value
  std::vector<std::string> refused(kNodes);
  std::vector<std::thread> nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.emplace_back([&, i] {
      ServerConfig config = ConfigIn(dir.path() / ("node" + std::to_string(i)));
      config.store = db.url();
      const ManualClock clock(1'700'000'000'000);
      try {
        Instance instance(config, clock, DataDirUse::kServe);
        instance.InitializeIfNeeded();
        served[i] = instance.keyring().CheckValue();
      } catch (const std::runtime_error& error) {
        refused[i] = error.what();
      }
    });
  }
  for (auto& node : nodes) node.join();
  PgStore store(PgStore::Options{.url = db.url()});
  const auto stored = store.GetSetting("master_key_check");
  ASSERT_TRUE(stored && *stored);
  int started = 0;
  for (int i = 0; i < kNodes; ++i) {
    if (!served[i].empty()) {
      ++started;
      EXPECT_EQ(served[i], **stored) << "node " << i << " serves with another key";
    } else {
      EXPECT_NE(refused[i].find("master key"), std::string::npos) << refused[i];
    }
  }
  EXPECT_GE(started, 1);
  auto organizations = store.ListOrganizations(OrganizationQuery{.limit = 10});
  ASSERT_TRUE(organizations);
  EXPECT_EQ(organizations->count, 1);
}

}  // namespace gatehouse
