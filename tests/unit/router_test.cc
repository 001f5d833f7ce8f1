#include "http/router.h"

#include <gtest/gtest.h>

namespace gatehouse {
namespace {

RouteHandler Marker(int* hit, int value) {
  return [hit, value](const HttpRequest&, const PathParams&, HttpResponse&) { *hit = value; };
}

}  // namespace

TEST(Router, MatchesLiteralsCaseInsensitivelyAndCapturesPlaceholders) {
  Router router;
  int hit = 0;
  router.Add("GET", "/v1/organization/project/{id}/tokens", Marker(&hit, 1));
  auto match = router.Find("GET", "/v1/Organization/project/abc/tokens");
  ASSERT_EQ(match.kind, Router::Match::Kind::kFound);
  ASSERT_EQ(match.params, PathParams{"abc"});
  (*match.handler)(HttpRequest{}, match.params, *std::make_unique<HttpResponse>());
  EXPECT_EQ(hit, 1);
}

TEST(Router, SegmentsAreDecodedAfterTheSplitSoAnEncodedSlashStaysInItsCapture) {
  Router router;
  int hit = 0;
  router.Add("GET", "/v2/llm/providers/{name}/models/{model}", Marker(&hit, 1));
  auto match = router.Find("GET", "/v2/llm/providers/p%20q/models/meta-llama%2FLlama-3%2f70B");
  ASSERT_EQ(match.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(match.params, (PathParams{"p q", "meta-llama/Llama-3/70B"}));
  EXPECT_EQ(router.Find("GET", "/v2/llm/%70roviders/p/models/m").kind, Router::Match::Kind::kFound)
      << "an encoded literal segment still matches";
  EXPECT_EQ(router.Find("GET", "/v2/llm/providers/p/models/vendor/model").kind,
            Router::Match::Kind::kNoRoute)
      << "an unencoded '/' separates segments";
}

TEST(Router, KnownPathWithOtherMethodIsWrongMethodWithAllow) {
  Router router;
  int hit = 0;
  router.Add("GET", "/v2/tokens/{id}", Marker(&hit, 1));
  router.Add("PUT", "/v2/tokens/{id}", Marker(&hit, 2));
  auto match = router.Find("POST", "/v2/tokens/x");
  EXPECT_EQ(match.kind, Router::Match::Kind::kWrongMethod);
  EXPECT_EQ(match.allow, "GET, PUT");
}

TEST(Router, UnknownPathIsNoRoute) {
  Router router;
  int hit = 0;
  router.Add("GET", "/healthz", Marker(&hit, 1));
  EXPECT_EQ(router.Find("GET", "/healthz/extra").kind, Router::Match::Kind::kNoRoute);
  EXPECT_EQ(router.Find("GET", "/nope").kind, Router::Match::Kind::kNoRoute);
  EXPECT_EQ(router.Find("GET", "/healthz/").kind, Router::Match::Kind::kFound);
}

// Routes are kept by their number of segments; among those of a path's length, the first added
// that matches wins, a literal added before an overlapping capture as well as after it.
TEST(Router, AmongRoutesOfAPathsLengthTheFirstAddedWins) {
  Router router;
  int hit = 0;
  router.Add("GET", "/", Marker(&hit, 1));
  router.Add("GET", "/v1/models/{id}", Marker(&hit, 2));
  router.Add("GET", "/v1/{area}/list", Marker(&hit, 3));
  router.Add("GET", "/v1/models/list", Marker(&hit, 4));
  router.Add("GET", "/v1/models", Marker(&hit, 5));
  const auto handled_by = [&](std::string_view path) {
    hit = 0;
    const auto match = router.Find("GET", path);
    if (match.kind == Router::Match::Kind::kFound) {
      (*match.handler)(HttpRequest{}, match.params, *std::make_unique<HttpResponse>());
    }
    return hit;
  };
  EXPECT_EQ(handled_by("/"), 1);
  EXPECT_EQ(handled_by("/v1/models/list"), 2) << "the capture was added first";
  EXPECT_EQ(handled_by("/v1/users/list"), 3);
  EXPECT_EQ(handled_by("/V1/MODELS"), 5);
  EXPECT_EQ(handled_by("/v1/models/list/more/and/more"), 0) << "longer than every route";
}

// A literal route is found by one lookup: what the lookup answers is what the walk through the
// routes would (the first added wins, case and empty segments do not count, escapes are walked).
TEST(Router, ALiteralRouteIsLookedUpAndAnswersAsTheWalkWould) {
  Router router;
  int hit = 0;
  router.Add("GET", "/v1/{kind}/completions", Marker(&hit, 1));
  router.Add("POST", "/v1/chat/completions", Marker(&hit, 2));
  router.Add("GET", "/v1/chat/completions", Marker(&hit, 3));
  router.Add("POST", "/v1/chat/completions", Marker(&hit, 4));
  const auto handled_by = [&](std::string_view method, std::string_view path) {
    hit = 0;
    const auto match = router.Find(method, path);
    if (match.kind == Router::Match::Kind::kFound) {
      EXPECT_EQ(match.params.empty(), *match.pattern == "/v1/chat/completions");
      (*match.handler)(HttpRequest{}, match.params, *std::make_unique<HttpResponse>());
    }
    return hit;
  };
  EXPECT_EQ(handled_by("POST", "/v1/chat/completions"), 2);
  EXPECT_EQ(handled_by("POST", "//V1/Chat//completions/"), 2);
  EXPECT_EQ(handled_by("POST", "/v1/ch%61t/completions"), 2) << "walked, found alike";
  EXPECT_EQ(handled_by("GET", "/v1/chat/completions"), 1) << "the capture was added first";
  EXPECT_EQ(router.Find("GET", "/v1/chat/completions").params, PathParams{"chat"});
  EXPECT_EQ(handled_by("POST", "/v1/chat%2Fcompletions"), 0) << "two segments: no route";
  const auto other = router.Find("PUT", "/v1/chat/completions");
  EXPECT_EQ(other.kind, Router::Match::Kind::kWrongMethod);
  EXPECT_EQ(other.allow, "GET, POST");
}

}  // namespace gatehouse
