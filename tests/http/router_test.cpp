#include "http/router.h"

#include <gtest/gtest.h>

namespace mp::http {
namespace {

Response ok(const Request&) {
  return Response::json(200, {});
}

TEST(Router, MatchesTemplatesAndCollectsParams) {
  Router router;
  router.add("GET", "/api/movies", ok);
  router.add("GET", "/api/movies/:id", ok);
  auto match = router.match("GET", "/api/movies/42");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.route->pattern, "/api/movies/:id");
  ASSERT_EQ(match.params.size(), 1u);
  EXPECT_EQ(match.params[0].second, "42");
}

TEST(Router, TrailingAndDoubleSlashesAreTheSamePath) {
  Router router;
  router.add("GET", "/api/movies", ok);
  EXPECT_NE(router.match("GET", "/api/movies/").route, nullptr);
  EXPECT_NE(router.match("GET", "//api//movies").route, nullptr);
}

TEST(Router, WrongMethodListsAllowedOnes) {
  Router router;
  router.add("GET", "/api/movies/:id", ok);
  router.add("PUT", "/api/movies/:id", ok);
  router.add("DELETE", "/api/movies/:id", ok);
  auto match = router.match("PATCH", "/api/movies/1");
  EXPECT_EQ(match.route, nullptr);
  EXPECT_EQ(match.allowed, (std::vector<std::string>{"GET", "PUT", "DELETE"}));
}

TEST(Router, UnknownPathMatchesNothing) {
  Router router;
  router.add("GET", "/api/movies/:id", ok);
  auto match = router.match("GET", "/api/movies/1/extra");
  EXPECT_EQ(match.route, nullptr);
  EXPECT_TRUE(match.allowed.empty());
  EXPECT_EQ(router.match("GET", "/api/../etc/passwd").route, nullptr);
}

TEST(Router, TrailingWildcardMatchesOneOrMoreSegments) {
  Router router;
  router.add("GET", "/api/movies/:id", ok);
  router.add("GET", "/api/movies/*", ok);
  EXPECT_EQ(router.match("GET", "/api/movies/7").route->pattern, "/api/movies/:id");
  EXPECT_EQ(router.match("GET", "/api/movies/7/cast").route->pattern, "/api/movies/*");
  EXPECT_EQ(router.match("GET", "/api/movies").route, nullptr);
  EXPECT_EQ(router.match("GET", "/api/other/7/cast").route, nullptr);
}

}  // namespace
}  // namespace mp::http
