#include "directory/project_directory.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "directory_fixture.h"

namespace gatehouse {
namespace {

using ProjectDirectoryTest = DirectoryTest;

std::vector<std::string> NamesOf(const std::vector<Project>& projects) {
  std::vector<std::string> names;
  for (const auto& project : projects) names.push_back(project.name);
  return names;
}

TEST_F(ProjectDirectoryTest, ANewProjectComesWithItsUsableDefaultToken) {
  auto created = projects().Create(acme_id(), ProjectSpec{"Support", "help desk", "a@acme.test"});
  ASSERT_TRUE(created);
  const Project& project = created->project;
  EXPECT_EQ(project.organization_id, acme_id());
  EXPECT_EQ(project.organization_name, "Acme");
  EXPECT_EQ(project.description, "help desk");
  EXPECT_TRUE(project.active);

  const ApiToken& token = created->default_token.token;
  EXPECT_EQ(token.name, kDefaultProjectTokenName);
  EXPECT_EQ(token.description, kDefaultProjectTokenDescription);
  EXPECT_EQ(token.scope, TokenScope::kProject);
  EXPECT_EQ(token.project_id, project.id);
  EXPECT_EQ(created->default_token.secret.substr(0, 4), "gtp_");
  auto cached = Authenticate(created->default_token.secret, Now());
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->project_id(), project.id);
  EXPECT_TRUE(cached->UsableAt(Now()));

  auto stored = projects().Find(acme_id(), project.id);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->name, "Support");
  auto live = tokens().ListLive(acme_id(), TokenScope::kProject, project.id);
  ASSERT_TRUE(live);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ(live->front().id, token.id);
}

TEST_F(ProjectDirectoryTest, AProjectNameTakenInTheOrganizationIsRefusedWith2029) {
  MakeProject(acme_id(), "Support");
  EXPECT_EQ(CodeOf(projects().Create(acme_id(), ProjectSpec{"Support", "", ""})),
            ErrorCode::kProjectNameExists);
  EXPECT_EQ(NamesOf(projects().List(acme_id(), true).value()),
            (std::vector<std::string>{"Support"}));

  auto globex = organizations().Create("Globex", "");
  ASSERT_TRUE(globex);
  EXPECT_TRUE(projects().Create(globex->organization.id, ProjectSpec{"Support", "", ""}));
}

TEST_F(ProjectDirectoryTest, RenamingOntoAnotherProjectsNameIsRefusedWith2029) {
  MakeProject(acme_id(), "Support");
  const Project sales = MakeProject(acme_id(), "Sales").project;
  EXPECT_EQ(CodeOf(projects().Update(acme_id(), sales.id, ProjectChange{"Support", {}, {}})),
            ErrorCode::kProjectNameExists);
  EXPECT_EQ(projects().Find(acme_id(), sales.id)->name, "Sales");
}

TEST_F(ProjectDirectoryTest, AHiddenProjectIsListedOnlyWhenHiddenOnesAreAskedFor) {
  const Project support = MakeProject(acme_id(), "Support").project;
  MakeProject(acme_id(), "Sales");
  auto hidden = projects().Update(acme_id(), support.id, ProjectChange{"Support", {}, false});
  ASSERT_TRUE(hidden);
  EXPECT_FALSE(hidden->active);
  EXPECT_EQ(NamesOf(projects().List(acme_id(), false).value()),
            (std::vector<std::string>{"Sales"}));
  EXPECT_EQ(NamesOf(projects().List(acme_id(), true).value()),
            (std::vector<std::string>{"Sales", "Support"}));
}

TEST_F(ProjectDirectoryTest, ARenamedProjectsNameReachesTheTokensAndTheCache) {
  const CreatedProject created = MakeProject(acme_id(), "Support");
  ASSERT_TRUE(projects().Update(acme_id(), created.project.id, ProjectChange{"Helpdesk", {}, {}}));
  EXPECT_EQ(tokens().Find(acme_id(), created.default_token.token.id)->project_name, "Helpdesk");
  EXPECT_EQ(cache().NameOf(created.project.id), "Helpdesk");
}

TEST_F(ProjectDirectoryTest, DeletingAProjectRevokesAllItsTokensBeforeReturning) {
  const CreatedProject support = MakeProject(acme_id(), "Support");
  const IssuedToken ci = MakeProjectToken(support.project, "ci");
  const CreatedProject sales = MakeProject(acme_id(), "Sales");

  ASSERT_TRUE(projects().Delete(acme_id(), support.project.id));

  for (const IssuedToken* issued :
       std::initializer_list<const IssuedToken*>{&support.default_token, &ci}) {
    EXPECT_FALSE(Authenticate(issued->secret, Now())) << issued->token.name;
    EXPECT_FALSE(cache().FindById(issued->token.id)) << issued->token.name;
    auto stored = store().FindToken(acme_id(), issued->token.id);
    ASSERT_TRUE(stored && *stored);
    EXPECT_EQ((*stored)->status, TokenStatus::kRevoked);
  }
  // Other projects keep theirs.
  EXPECT_TRUE(Usable(sales.default_token.secret, Now()));
  EXPECT_TRUE(Usable(acme_.token.secret, Now()));
}

TEST_F(ProjectDirectoryTest, ADeletedProjectIsNotFoundAnyMoreAndItsNameIsFree) {
  const Project support = MakeProject(acme_id(), "Support").project;
  ASSERT_TRUE(projects().Delete(acme_id(), support.id));
  EXPECT_EQ(CodeOf(projects().Find(acme_id(), support.id)), ErrorCode::kProjectNotFound);
  EXPECT_EQ(CodeOf(projects().Update(acme_id(), support.id, ProjectChange{"x", {}, {}})),
            ErrorCode::kProjectNotFound);
  EXPECT_EQ(CodeOf(projects().Delete(acme_id(), support.id)), ErrorCode::kProjectNotFound);
  EXPECT_TRUE(projects().List(acme_id(), true).value().empty());
  EXPECT_TRUE(projects().Create(acme_id(), ProjectSpec{"Support", "", ""}));
}

TEST_F(ProjectDirectoryTest, AProjectOfAnotherOrganizationIsAnsweredAs2005) {
  const CreatedProject support = MakeProject(acme_id(), "Support");
  auto globex = organizations().Create("Globex", "");
  ASSERT_TRUE(globex);
  const std::string& other = globex->organization.id;
  const std::string& id = support.project.id;

  EXPECT_EQ(CodeOf(projects().Find(other, id)), ErrorCode::kProjectNotFound);
  EXPECT_EQ(CodeOf(projects().Update(other, id, ProjectChange{"Taken", {}, false})),
            ErrorCode::kProjectNotFound);
  EXPECT_EQ(CodeOf(projects().Delete(other, id)), ErrorCode::kProjectNotFound);
  EXPECT_TRUE(projects().List(other, true).value().empty());

  auto untouched = projects().Find(acme_id(), id);
  ASSERT_TRUE(untouched);
  EXPECT_EQ(untouched->name, "Support");
  EXPECT_TRUE(untouched->active);
  EXPECT_TRUE(Usable(support.default_token.secret, Now()));
}

TEST_F(ProjectDirectoryTest, AProjectInAnUnknownOrganizationIsRefusedWith9006) {
  EXPECT_EQ(CodeOf(projects().Create("no-such-organization", ProjectSpec{"Support", "", ""})),
            ErrorCode::kOrganizationNotFound);
}

}  // namespace
}  // namespace gatehouse
