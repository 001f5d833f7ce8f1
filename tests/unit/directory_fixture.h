#ifndef GATEHOUSE_TESTS_UNIT_DIRECTORY_FIXTURE_H_
#define GATEHOUSE_TESTS_UNIT_DIRECTORY_FIXTURE_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "auth/keyring.h"
#include "auth/token_cache.h"
#include "directory/assistant_directory.h"
#include "directory/organization_directory.h"
#include "directory/project_directory.h"
#include "directory/token_directory.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace gatehouse {

struct DirectoryOptions {
  bool keep_sealed = true;  // false is reveal=never
};

// The directories of src/directory/ wired over a real SqliteStore at `database`, the way the
// server wires them, with a fixed master key. This is the one place the tests build that graph.
// Two Directories over the same file behave like two processes (the server and the CLI).
struct Directories {
  Directories(const std::filesystem::path& database, const Clock& clock,
              DirectoryOptions options = {})
      : store(database.string()),
        keyring(Keyring::Key{}),
        tokens(store, keyring, cache, clock, options.keep_sealed),
        projects(store, tokens, clock),
        organizations(store, tokens, clock),
        assistants(store, clock) {}
  Directories(const Directories&) = delete;
  Directories& operator=(const Directories&) = delete;

  SqliteStore store;
  Keyring keyring;
  TokenCache cache;
  TokenDirectory tokens;
  ProjectDirectory projects;
  OrganizationDirectory organizations;
  AssistantDirectory assistants;
};

// A fresh database in a TempDir, its token cache loaded as by `serve`, with one organization
// ("Acme", with its DefaultOrganization token) and the helpers the directory tests share.
class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directories_ = std::make_unique<Directories>(DatabaseFile(), clock_);
    // As `serve` does at start-up; later syncs then also deliver revocations.
    ASSERT_TRUE(tokens().LoadCache());
    auto created = organizations().Create("Acme", "admin@acme.test");
    ASSERT_TRUE(created) << created.error().internal;
    acme_ = std::move(*created);
  }

  std::filesystem::path DatabaseFile() const { return dir_.File("gatehouse.db"); }

  TokenDirectory& tokens() { return directories_->tokens; }
  ProjectDirectory& projects() { return directories_->projects; }
  OrganizationDirectory& organizations() { return directories_->organizations; }
  AssistantDirectory& assistants() { return directories_->assistants; }
  SqliteStore& store() { return directories_->store; }
  TokenCache& cache() { return directories_->cache; }

  const std::string& acme_id() const { return acme_.organization.id; }
  // The directories' time: it moves only when a test moves it.
  TimeMs Now() const { return clock_.Now(); }

  // What authentication sees for `secret` at `now`: the cached token, or null.
  std::optional<CachedToken> Authenticate(const std::string& secret, TimeMs now) const {
    return directories_->cache.FindByHash(directories_->keyring.Hash(secret), now);
  }
  // True when `secret` authenticates a token that is usable (Active, unexpired) at `now`.
  bool Usable(const std::string& secret, TimeMs now) const {
    auto token = Authenticate(secret, now);
    return token && token->UsableAt(now);
  }

  CreatedProject MakeProject(const std::string& organization_id, const std::string& name) {
    auto created = projects().Create(organization_id, ProjectSpec{name, "", ""});
    EXPECT_TRUE(created) << name;
    return created ? std::move(*created) : CreatedProject{};
  }

  IssuedToken MakeProjectToken(const Project& project, const std::string& name) {
    TokenSpec spec;
    spec.scope = TokenScope::kProject;
    spec.organization_id = project.organization_id;
    spec.project_id = project.id;
    spec.project_name = project.name;
    spec.name = name;
    auto issued = tokens().Create(spec);
    EXPECT_TRUE(issued) << name;
    return issued ? std::move(*issued) : IssuedToken{};
  }

  IssuedToken MakeOrganizationToken(const std::string& organization_id, const std::string& name) {
    TokenSpec spec;
    spec.scope = TokenScope::kOrganization;
    spec.organization_id = organization_id;
    spec.name = name;
    auto issued = tokens().Create(spec);
    EXPECT_TRUE(issued) << name;
    return issued ? std::move(*issued) : IssuedToken{};
  }

  TempDir dir_;  // declared first, so it outlives the database in directories_
  ManualClock clock_{1'700'000'000'000};
  std::unique_ptr<Directories> directories_;
  CreatedOrganization acme_;
};

// The error code of a failed result; fails the test when it succeeded.
template <typename T>
ErrorCode CodeOf(const Result<T>& result) {
  EXPECT_FALSE(result.has_value()) << "expected a failure";
  return result ? ErrorCode::kInternal : result.error().code();
}

}  // namespace gatehouse

#endif  // GATEHOUSE_TESTS_UNIT_DIRECTORY_FIXTURE_H_
