#include "directory/organization_directory.h"

#include <gtest/gtest.h>

#include <string>

#include "directory_fixture.h"

namespace gatehouse {
namespace {

using OrganizationDirectoryTest = DirectoryTest;

TEST_F(OrganizationDirectoryTest, ANewOrganizationComesWithItsUsableDefaultOrganizationToken) {
  auto created = organizations().Create("Globex", "admin@globex.test");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->organization.name, "Globex");
  EXPECT_EQ(created->organization.admin_email, "admin@globex.test");

  const ApiToken& token = created->token.token;
  EXPECT_EQ(token.name, kDefaultOrganizationTokenName);
  EXPECT_EQ(token.description, kDefaultOrganizationTokenDescription);
  EXPECT_EQ(token.scope, TokenScope::kOrganization);
  EXPECT_EQ(token.organization_id, created->organization.id);
  EXPECT_TRUE(token.project_id.empty());
  EXPECT_EQ(created->token.secret.substr(0, 4), "gto_");
  EXPECT_TRUE(Usable(created->token.secret, Now()));

  auto live = tokens().ListLive(created->organization.id, TokenScope::kOrganization);
  ASSERT_TRUE(live);
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ(live->front().id, token.id);
}

TEST_F(OrganizationDirectoryTest, AnOrganizationNameInUseIsRefusedWith409) {
  EXPECT_EQ(CodeOf(organizations().Create("Acme", "")), ErrorCode::kConflict);
  EXPECT_EQ(organizations().List(OrganizationQuery{}).value().count, 1);
}

TEST_F(OrganizationDirectoryTest, ResolveFindsAnOrganizationByIdOrByName) {
  auto by_id = organizations().Resolve(acme_id());
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->name, "Acme");
  auto by_name = organizations().Resolve("Acme");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->id, acme_id());
  EXPECT_EQ(CodeOf(organizations().Resolve("Initech")), ErrorCode::kOrganizationNotFound);
}

TEST_F(OrganizationDirectoryTest, DeletingAnOrganizationRevokesEveryTokenBeforeReturning) {
  const CreatedProject support = MakeProject(acme_id(), "Support");
  const IssuedToken ci = MakeProjectToken(support.project, "ci");
  const IssuedToken deploy = MakeOrganizationToken(acme_id(), "deploy");
  auto globex = organizations().Create("Globex", "");
  ASSERT_TRUE(globex);

  ASSERT_TRUE(organizations().Delete(acme_id()));

  for (const IssuedToken* issued : std::initializer_list<const IssuedToken*>{
           &acme_.token, &support.default_token, &ci, &deploy}) {
    EXPECT_FALSE(Authenticate(issued->secret, Now())) << issued->token.name;
    EXPECT_FALSE(cache().FindById(issued->token.id)) << issued->token.name;
  }
  EXPECT_TRUE(Usable(globex->token.secret, Now()));
}

TEST_F(OrganizationDirectoryTest, ADeletedOrganizationIsNotFoundAnyMoreAndItsNameIsFree) {
  ASSERT_TRUE(organizations().Delete(acme_id()));
  EXPECT_EQ(CodeOf(organizations().Resolve(acme_id())), ErrorCode::kOrganizationNotFound);
  EXPECT_EQ(CodeOf(organizations().Resolve("Acme")), ErrorCode::kOrganizationNotFound);
  EXPECT_EQ(CodeOf(organizations().Delete(acme_id())), ErrorCode::kOrganizationNotFound);
  EXPECT_EQ(CodeOf(projects().Create(acme_id(), ProjectSpec{"Support", "", ""})),
            ErrorCode::kOrganizationNotFound);
  EXPECT_EQ(organizations().List(OrganizationQuery{}).value().count, 0);
  EXPECT_TRUE(organizations().Create("Acme", ""));
}

TEST_F(OrganizationDirectoryTest, ListFiltersByNameAndPages) {
  for (const char* name : {"Globex", "Globe Trotters", "Initech"}) {
    ASSERT_TRUE(organizations().Create(name, "")) << name;
  }
  auto globes = organizations().List(OrganizationQuery{.name_contains = "glob"});
  ASSERT_TRUE(globes);
  EXPECT_EQ(globes->count, 2);

  auto page = organizations().List(OrganizationQuery{.offset = 1, .limit = 2});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->count, 4);
  EXPECT_EQ(page->organizations.size(), 2u);
}

}  // namespace
}  // namespace gatehouse
