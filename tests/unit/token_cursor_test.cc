// The streamed listing of a project's tokens: the store's keyset cursor walks a project in
// exactly the order of the listing it replaces (SearchTokens by name), across page boundaries
// that fall inside ties, while tokens come and go; the directory shows live last uses; the
// body is byte for byte the JSON the listing answered when built in memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <random>
#include <set>

#include "api/render.h"
#include "api/token_list_stream.h"
#include "core/ids.h"
#include "directory_fixture.h"

namespace gatehouse {
namespace {

// Names equal without (ASCII) case, names that differ only beyond ASCII (SQLite's NOCASE folds
// ASCII only), and characters LIKE and JSON treat specially.
constexpr const char* kNames[] = {"ab",   "AB",   "Ab",    "aB",   "ci",     "CI",
                                  "café", "CAFÉ", "Café",  "日本", "Ω",      "ω",
                                  "z_",   "Z%",   "\"q\"", "a\\b", "deploy", "Deploy"};

class TokenCursorTest : public DirectoryTest {
 protected:
  void SetUp() override {
    DirectoryTest::SetUp();
    support_ = MakeProject(acme_id(), "Support").project;
    // Same names in another project and another organization: never listed.
    other_project_ = MakeProject(acme_id(), "Sales").project;
    auto other = organizations().Create("Other", "");
    ASSERT_TRUE(other);
    Project elsewhere = MakeProject(other->organization.id, "Support").project;
    std::mt19937 random(11);
    std::vector<std::pair<ApiToken, TokenCredential>> batch;
    for (int i = 0; i < 900; ++i) {
      // Few suffixes, so that many names tie without case and some tie exactly (a revoked
      // token's name may be taken again).
      const std::string name =
          std::string(kNames[random() % std::size(kNames)]) + std::to_string(random() % 40);
      const int roll = static_cast<int>(random() % 10);
      const TokenStatus status = roll < 6   ? TokenStatus::kActive
                                 : roll < 8 ? TokenStatus::kBlocked
                                            : TokenStatus::kRevoked;
      const Project& project = i % 7 == 0 ? other_project_ : (i % 11 == 0 ? elsewhere : support_);
      batch.emplace_back(Token(project, name, status), Credential());
    }
    auto outcomes = store().InsertTokens(batch);
    ASSERT_TRUE(outcomes);
  }

  static TokenCredential Credential() { return TokenCredential{NewUuid(), {}, {}, {}}; }

  ApiToken Token(const Project& project, const std::string& name, TokenStatus status) {
    ApiToken token;
    token.id = NewUuid();
    token.organization_id = project.organization_id;
    token.project_id = project.id;
    token.project_name = project.name;
    token.scope = TokenScope::kProject;
    token.name = name;
    token.status = status;
    token.created_at = token.updated_at = Now();
    token.secret_prefix = "gtp_abcd";
    return token;
  }

  // The listing as it was answered before streaming: one search with no limit.
  std::vector<ApiToken> Listing(const Project& project) {
    TokenQuery query;
    query.organization_id = project.organization_id;
    query.scope = TokenScope::kProject;
    query.project_id = project.id;
    query.statuses = {TokenStatus::kActive, TokenStatus::kBlocked};
    auto page = store().SearchTokens(query);
    EXPECT_TRUE(page) << page.error().internal;
    return page ? page->tokens : std::vector<ApiToken>{};
  }

  static std::vector<ApiToken> Walk(TokenCursor& cursor) {
    std::vector<ApiToken> tokens;
    ApiToken token;
    for (;;) {
      auto more = cursor.Next(token);
      EXPECT_TRUE(more) << more.error().internal;
      if (!more || !*more) return tokens;
      tokens.push_back(token);
    }
  }

  static std::vector<std::string> Ids(const std::vector<ApiToken>& tokens) {
    std::vector<std::string> ids;
    for (const auto& token : tokens) ids.push_back(token.id);
    return ids;
  }

  Project support_;
  Project other_project_;
};

TEST_F(TokenCursorTest, WalksAProjectInTheListingsOrderAtEveryPageSize) {
  const std::vector<ApiToken> listing = Listing(support_);
  ASSERT_GT(listing.size(), 300u);
  // The fixture has what the order must settle: names equal without case, in both statuses.
  std::set<std::string> folded;
  bool case_ties = false;
  for (const auto& token : listing) {
    std::string fold = token.name;
    std::transform(fold.begin(), fold.end(), fold.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    case_ties |= !folded.insert(fold).second;
  }
  ASSERT_TRUE(case_ties);

  for (std::int64_t page_rows : {1, 2, 7, 64, 500, 5000}) {
    SCOPED_TRACE(page_rows);
    auto cursor = store().OpenProjectTokens(acme_id(), support_.id, page_rows);
    ASSERT_TRUE(cursor);
    const std::vector<ApiToken> walked = Walk(**cursor);
    ASSERT_EQ(Ids(walked), Ids(listing));
    for (std::size_t i = 0; i < walked.size(); ++i) {
      EXPECT_EQ(boost::json::serialize(TokenJson(walked[i])),
                boost::json::serialize(TokenJson(listing[i])));
      EXPECT_EQ(walked[i].organization_name, "Acme");
    }
  }
}

TEST_F(TokenCursorTest, SeesNoTokenOfAnotherOrganizationOrProject) {
  auto cursor = store().OpenProjectTokens("another-organization", support_.id, 50);
  ASSERT_TRUE(cursor);
  EXPECT_TRUE(Walk(**cursor).empty());
  auto unknown = store().OpenProjectTokens(acme_id(), NewUuid(), 50);
  ASSERT_TRUE(unknown);
  EXPECT_TRUE(Walk(**unknown).empty());
  auto sales = store().OpenProjectTokens(acme_id(), other_project_.id, 50);
  ASSERT_TRUE(sales);
  EXPECT_EQ(Ids(Walk(**sales)), Ids(Listing(other_project_)));
}

TEST_F(TokenCursorTest, TokensCreatedAndRevokedDuringTheWalkNeverRepeatOrReorderIt) {
  const std::vector<ApiToken> before = Listing(support_);
  auto cursor = store().OpenProjectTokens(acme_id(), support_.id, 5);
  ASSERT_TRUE(cursor);
  std::vector<ApiToken> walked;
  ApiToken token;
  const std::size_t half = before.size() / 2;
  for (std::size_t i = 0; i < half; ++i) {
    ASSERT_TRUE((*cursor)->Next(token).value());
    walked.push_back(token);
  }
  // Behind the walk: a new first token and a revoked one already returned. Ahead of it: a new
  // token (names starting with '~' sort after every ASCII one) and a revoked one not read yet.
  const ApiToken first = Token(support_, "!first", TokenStatus::kActive);
  const ApiToken later = Token(support_, "~later", TokenStatus::kBlocked);
  ASSERT_TRUE(store().InsertToken(first, Credential()));
  ASSERT_TRUE(store().InsertToken(later, Credential()));
  TokenChange revoke;
  revoke.status = TokenStatus::kRevoked;
  const std::string returned = before[half / 2].id;
  const std::string ahead = before[half + 10].id;
  for (const std::string& id : {returned, ahead}) {
    auto changed = store().ChangeToken(acme_id(), id, revoke, Now(), {});
    ASSERT_TRUE(changed);
    ASSERT_EQ(changed->outcome, TokenChangeResult::Outcome::kApplied);
  }
  for (const auto& rest : Walk(**cursor)) walked.push_back(rest);

  // What was read, then the listing as it is now from the last token read on.
  const std::vector<std::string> now = Ids(Listing(support_));
  auto resume = std::find(now.begin(), now.end(), before[half - 1].id);
  ASSERT_NE(resume, now.end());
  std::vector<std::string> expected = Ids(before);
  expected.resize(half);
  expected.insert(expected.end(), resume + 1, now.end());
  EXPECT_EQ(Ids(walked), expected);
  const std::vector<std::string> ids = Ids(walked);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), later.id), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), returned), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), first.id), 0);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), ahead), 0);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
}

TEST_F(TokenCursorTest, ALaterPageStartsAtTheLastNameInTheIndex) {
  auto plan = store().ExplainProjectTokensPage();
  ASSERT_TRUE(plan) << plan.error().internal;
  EXPECT_NE(plan->find("USING INDEX api_tokens_project_live_name (project_id=? AND name>?)"),
            std::string::npos)
      << *plan;
  EXPECT_EQ(plan->find("TEMP B-TREE"), std::string::npos) << *plan;
}

TEST_F(TokenCursorTest, TheDirectoryShowsTheLastUseHeldInMemory) {
  const IssuedToken used = MakeProjectToken(support_, "used");
  const TimeMs used_at = Now() + 5000;
  cache().MarkUsed(*Authenticate(used.secret, used_at), used_at);
  auto cursor = tokens().OpenLiveProjectTokens(acme_id(), support_.id, 3);
  ASSERT_TRUE(cursor);
  const std::vector<ApiToken> walked = Walk(**cursor);
  auto found = std::find_if(walked.begin(), walked.end(),
                            [&](const ApiToken& token) { return token.id == used.token.id; });
  ASSERT_NE(found, walked.end());
  EXPECT_EQ(found->last_used_at, used_at);
  // What the listing answered before, with the same live times.
  auto live = tokens().ListLive(acme_id(), TokenScope::kProject, support_.id);
  ASSERT_TRUE(live);
  std::vector<std::string> rendered, listed;
  for (const auto& token : walked) rendered.push_back(boost::json::serialize(TokenJson(token)));
  for (const auto& token : *live) listed.push_back(boost::json::serialize(TokenJson(token)));
  EXPECT_EQ(rendered, listed);
}

// A cursor over given tokens that fails after `fail_after` of them (never when negative).
class ScriptedCursor final : public TokenCursor {
 public:
  ScriptedCursor(std::vector<ApiToken> tokens, int fail_after)
      : tokens_(std::move(tokens)), fail_after_(fail_after) {}
  Result<bool> Next(ApiToken& token) override {
    if (fail_after_ >= 0 && next_ == static_cast<std::size_t>(fail_after_)) {
      return Fail(ErrorCode::kInternal, {}, "disk I/O error");
    }
    if (next_ == tokens_.size()) return false;
    token = tokens_[next_++];
    return true;
  }

 private:
  std::vector<ApiToken> tokens_;
  int fail_after_;
  std::size_t next_ = 0;
};

// Every piece of `stream` until its last; `last` receives how it ended.
std::string Drain(BodySource& stream, BodyPiece& last, int& pieces) {
  std::string body, chunk;
  pieces = 0;
  for (;;) {
    last = stream.Next(chunk);
    body += chunk;
    ++pieces;
    if (last != BodyPiece::kMore) return body;
  }
}

TEST_F(TokenCursorTest, TheStreamedBodyIsTheJsonOfTheWholeListing) {
  const std::vector<ApiToken> listing = Listing(support_);
  const std::string whole =
      boost::json::serialize(boost::json::object{{"tokens", TokensJson(listing)}});
  for (std::size_t chunk_bytes : {std::size_t{1}, std::size_t{1000}, std::size_t{1} << 20}) {
    SCOPED_TRACE(chunk_bytes);
    auto stream = TokenListStream::Open(std::make_unique<ScriptedCursor>(listing, -1), chunk_bytes);
    ASSERT_TRUE(stream);
    BodyPiece last;
    int pieces = 0;
    EXPECT_EQ(Drain(**stream, last, pieces), whole);
    EXPECT_EQ(last, BodyPiece::kLast);
    if (chunk_bytes == 1000) {
      EXPECT_GT(pieces, 10);
    }
  }
  auto empty = TokenListStream::Open(std::make_unique<ScriptedCursor>(std::vector<ApiToken>{}, -1));
  ASSERT_TRUE(empty);
  BodyPiece last;
  int pieces = 0;
  EXPECT_EQ(Drain(**empty, last, pieces), R"({"tokens":[]})");
  EXPECT_EQ(last, BodyPiece::kLast);
}

TEST_F(TokenCursorTest, AStoreFailureBeforeTheFirstByteIsAnErrorAndAfterItABrokenBody) {
  const std::vector<ApiToken> listing = Listing(support_);
  auto refused = TokenListStream::Open(std::make_unique<ScriptedCursor>(listing, 0));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInternal);

  auto stream = TokenListStream::Open(std::make_unique<ScriptedCursor>(listing, 40), 1000);
  ASSERT_TRUE(stream);
  BodyPiece last;
  int pieces = 0;
  const std::string body = Drain(**stream, last, pieces);
  EXPECT_EQ(last, BodyPiece::kBroken);
  EXPECT_GT(pieces, 1);
  EXPECT_EQ(body.find("]}"), std::string::npos) << "a broken body never closes the list";
}

}  // namespace
}  // namespace gatehouse
