#include "directory/assistant_directory.h"

#include <gtest/gtest.h>

#include <string>

#include "directory_fixture.h"

namespace gatehouse {
namespace {

class AssistantDirectoryTest : public DirectoryTest {
 protected:
  void SetUp() override {
    DirectoryTest::SetUp();
    support_ = MakeProject(acme_id(), "Support").project;
    sales_ = MakeProject(acme_id(), "Sales").project;
  }

  Assistant MakeAssistant(const Project& project, const std::string& name) {
    auto created = assistants().Create(acme_id(), project.id, name, "answers", "Be brief.",
                                       LlmSettings{"openai", "gpt-4o-mini", 0.2, 256});
    EXPECT_TRUE(created) << name;
    return created ? std::move(*created) : Assistant{};
  }

  Project support_;
  Project sales_;
};

TEST_F(AssistantDirectoryTest, ACreatedAssistantIsFoundByIdOrNameAtRevisionOne) {
  const Assistant created = MakeAssistant(support_, "helper");
  EXPECT_EQ(created.revision, 1);
  auto by_id = assistants().Find(support_.id, created.id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->name, "helper");
  EXPECT_EQ(by_id->prompt, "Be brief.");
  EXPECT_EQ(by_id->llm, (LlmSettings{"openai", "gpt-4o-mini", 0.2, 256}));
  auto by_name = assistants().Find(support_.id, "helper");
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->id, created.id);
  auto revisions = assistants().Revisions(created.id);
  ASSERT_TRUE(revisions);
  ASSERT_EQ(revisions->size(), 1u);
  EXPECT_EQ(revisions->front().revision, 1);
}

TEST_F(AssistantDirectoryTest, AnAssistantNameTakenInTheProjectIsRefusedWith2030) {
  MakeAssistant(support_, "helper");
  EXPECT_EQ(CodeOf(assistants().Create(acme_id(), support_.id, "helper", "", "", LlmSettings{})),
            ErrorCode::kAssistantNameExists);
  const Assistant other = MakeAssistant(support_, "other");
  AssistantChange rename;
  rename.name = "helper";
  EXPECT_EQ(CodeOf(assistants().Update(support_.id, other.id, rename)),
            ErrorCode::kAssistantNameExists);
  EXPECT_EQ(assistants().Find(support_.id, other.id)->name, "other");
  // Another project may use the name.
  MakeAssistant(sales_, "helper");
}

TEST_F(AssistantDirectoryTest, ChangingThePromptOrTheSettingsAddsARevision) {
  const Assistant created = MakeAssistant(support_, "helper");
  AssistantChange prompt;
  prompt.prompt = "Be thorough.";
  auto second = assistants().Update(support_.id, "helper", prompt);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->revision, 2);

  AssistantChange settings;
  settings.llm = LlmSettingsChange::All(LlmSettings{"openai", "gpt-4o", 0.2, 256});
  auto third = assistants().Update(support_.id, created.id, settings);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->revision, 3);

  auto revisions = assistants().Revisions(created.id);
  ASSERT_TRUE(revisions);
  ASSERT_EQ(revisions->size(), 3u);
  EXPECT_EQ((*revisions)[0].prompt, "Be brief.");
  EXPECT_EQ((*revisions)[1].prompt, "Be thorough.");
  EXPECT_EQ((*revisions)[2].llm.model_name, "gpt-4o");
  EXPECT_EQ(assistants().Find(support_.id, created.id)->revision, 3);
}

TEST_F(AssistantDirectoryTest, ChangingOnlyNameDescriptionOrAnUnchangedPromptKeepsTheRevision) {
  const Assistant created = MakeAssistant(support_, "helper");
  AssistantChange change;
  change.name = "assistant";
  change.description = "renamed";
  change.prompt = created.prompt;
  change.llm = LlmSettingsChange::All(created.llm);
  auto updated = assistants().Update(support_.id, created.id, change);
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->revision, 1);
  EXPECT_EQ(updated->name, "assistant");
  EXPECT_EQ(assistants().Revisions(created.id)->size(), 1u);
  EXPECT_EQ(assistants().Find(support_.id, "assistant")->description, "renamed");
}

// A settings change names only its fields, and is merged onto the assistant as the update finds
// it: two changes of different fields both land, and the check sees the merged settings.
TEST_F(AssistantDirectoryTest, SettingsChangesOfDifferentFieldsBothLandAndTheCheckSeesTheMerge) {
  const Assistant created = MakeAssistant(support_, "helper");
  AssistantChange base;
  base.llm = LlmSettingsChange::All(LlmSettings{"openai", "gpt-4o", 0.2, 256});
  ASSERT_TRUE(assistants().Update(support_.id, created.id, base));
  AssistantChange temperature;
  temperature.llm.emplace().temperature = 0.7;
  AssistantChange model;
  model.llm.emplace().model_name = "gpt-4o-mini";
  ASSERT_TRUE(assistants().Update(support_.id, created.id, temperature));
  std::vector<LlmSettings> checked;
  auto updated = assistants().Update(support_.id, created.id, model, AuditActor::System(),
                                     [&checked](const LlmSettings& llm) -> Status {
                                       checked.push_back(llm);
                                       return {};
                                     });
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->llm, (LlmSettings{"openai", "gpt-4o-mini", 0.7, 256}));
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_EQ(checked[0], updated->llm);
  AssistantChange cleared;
  cleared.llm.emplace().max_tokens = std::optional<std::int64_t>();
  auto refused = assistants().Update(
      support_.id, created.id, cleared, AuditActor::System(),
      [](const LlmSettings&) -> Status { return Fail(ErrorCode::kPattern, "modelName"); });
  EXPECT_EQ(CodeOf(refused), ErrorCode::kPattern);
  EXPECT_EQ(assistants().Find(support_.id, created.id)->llm.max_tokens, 256);
  ASSERT_TRUE(assistants().Update(support_.id, created.id, cleared));
  EXPECT_EQ(assistants().Find(support_.id, created.id)->llm.max_tokens, std::nullopt);
}

TEST_F(AssistantDirectoryTest, AnAssistantOfAnotherProjectIsAnsweredAs1) {
  const Assistant created = MakeAssistant(support_, "helper");
  AssistantChange change;
  change.prompt = "Leak.";
  EXPECT_EQ(CodeOf(assistants().Find(sales_.id, created.id)), ErrorCode::kAssistantNotFound);
  EXPECT_EQ(CodeOf(assistants().Find(sales_.id, "helper")), ErrorCode::kAssistantNotFound);
  EXPECT_EQ(CodeOf(assistants().Update(sales_.id, created.id, change)),
            ErrorCode::kAssistantNotFound);
  EXPECT_EQ(CodeOf(assistants().Delete(sales_.id, created.id)), ErrorCode::kAssistantNotFound);
  EXPECT_TRUE(assistants().List(sales_.id).value().empty());

  auto untouched = assistants().Find(support_.id, created.id);
  ASSERT_TRUE(untouched);
  EXPECT_EQ(untouched->prompt, "Be brief.");
}

TEST_F(AssistantDirectoryTest, ADeletedAssistantIsNotFoundAnyMoreAndItsNameIsFree) {
  const Assistant created = MakeAssistant(support_, "helper");
  ASSERT_TRUE(assistants().Delete(support_.id, "helper"));
  EXPECT_EQ(CodeOf(assistants().Find(support_.id, created.id)), ErrorCode::kAssistantNotFound);
  EXPECT_TRUE(assistants().List(support_.id).value().empty());
  const Assistant again = MakeAssistant(support_, "helper");
  EXPECT_NE(again.id, created.id);
}

TEST_F(AssistantDirectoryTest, LookupAnswersFromTheCatalogKeptInStepWithEveryChange) {
  const Assistant helper = MakeAssistant(support_, "helper");
  MakeAssistant(sales_, "helper");
  auto found = assistants().Lookup(support_.id, "helper");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, helper.id);
  EXPECT_EQ(found->prompt, "Be brief.");
  EXPECT_EQ(assistants().Lookup(support_.id, helper.id)->name, "helper");

  AssistantChange change;
  change.name = "guide";
  change.prompt = "Be thorough.";
  ASSERT_TRUE(assistants().Update(support_.id, helper.id, change));
  EXPECT_EQ(CodeOf(assistants().Lookup(support_.id, "helper")), ErrorCode::kAssistantNotFound);
  auto renamed = assistants().Lookup(support_.id, "guide");
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->prompt, "Be thorough.");
  EXPECT_EQ(renamed->revision, 2);

  ASSERT_TRUE(assistants().Delete(support_.id, "guide"));
  EXPECT_EQ(CodeOf(assistants().Lookup(support_.id, helper.id)), ErrorCode::kAssistantNotFound);
  EXPECT_TRUE(assistants().Lookup(sales_.id, "helper"));
}

TEST_F(AssistantDirectoryTest, LookupNeverReadsTheStoreAndLoadRebuildsTheCatalogFromIt) {
  const Assistant helper = MakeAssistant(support_, "helper");
  // Deleted behind the directory's back: the catalog still answers, so Lookup did not read
  // the store; Load then brings it in line.
  ASSERT_TRUE(store().DeleteAssistant(support_.id, helper.id, 1, nullptr));
  EXPECT_TRUE(assistants().Lookup(support_.id, "helper"));
  ASSERT_TRUE(assistants().Load());
  EXPECT_EQ(CodeOf(assistants().Lookup(support_.id, "helper")), ErrorCode::kAssistantNotFound);

  AssistantDirectory fresh(store(), clock_);
  const Assistant other = MakeAssistant(sales_, "other");
  EXPECT_EQ(CodeOf(fresh.Lookup(sales_.id, "other")), ErrorCode::kAssistantNotFound);
  ASSERT_TRUE(fresh.Load());
  EXPECT_EQ(fresh.Lookup(sales_.id, "other")->id, other.id);
}

}  // namespace
}  // namespace gatehouse
