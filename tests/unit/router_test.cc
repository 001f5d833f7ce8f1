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

}  // namespace gatehouse
