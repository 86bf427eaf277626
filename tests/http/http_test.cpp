#include "http/http.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace mp::http {
namespace {

TEST(PercentDecode, DecodesEscapesAndPlus) {
  EXPECT_EQ(percentDecode("50%25", true), "50%");
  EXPECT_EQ(percentDecode("a+b", true), "a b");
  EXPECT_EQ(percentDecode("a+b", false), "a+b");
  EXPECT_EQ(percentDecode("%e2%82%ac", false), "\xe2\x82\xac");
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  EXPECT_FALSE(percentDecode("%", true));
  EXPECT_FALSE(percentDecode("%2", true));
  EXPECT_FALSE(percentDecode("%zz", true));
}

TEST(ParseQuery, KeepsOrderAndDecodes) {
  auto pairs = parseQuery("title=50%25&limit=2&flag&=x");
  ASSERT_TRUE(pairs);
  ASSERT_EQ(pairs->size(), 4u);
  EXPECT_EQ((*pairs)[0], std::make_pair(std::string("title"), std::string("50%")));
  EXPECT_EQ((*pairs)[1], std::make_pair(std::string("limit"), std::string("2")));
  EXPECT_EQ((*pairs)[2], std::make_pair(std::string("flag"), std::string("")));
  EXPECT_FALSE(parseQuery("a=%G1"));
}

TEST(FormatQuery, EncodesAllButUnreservedAndParsesBackToThePairs) {
  std::vector<std::pair<std::string, std::string>> pairs = {{"title", "a b+c&d=e%f/?#<>\"\xe2\x82\xac"},
                                                            {"limit", "20"},
                                                            {"flag", ""},
                                                            {"", "x"},
                                                            {"Az09-._~", "~"}};
  std::string text = formatQuery(pairs);
  EXPECT_EQ(text, "title=a%20b%2Bc%26d%3De%25f%2F%3F%23%3C%3E%22%E2%82%AC&limit=20&flag=&=x&Az09-._~=~");
  EXPECT_EQ(parseQuery(text), pairs);
  EXPECT_EQ(formatQuery({}), "");
}

TEST(Utf8, AcceptsWellFormedAndRejectsTheRest) {
  EXPECT_TRUE(isValidUtf8("plain"));
  EXPECT_TRUE(isValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac"));
  EXPECT_FALSE(isValidUtf8("\xff"));
  EXPECT_FALSE(isValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(isValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(isValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(isValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(MediaType, IgnoresParametersCaseAndSpace) {
  EXPECT_EQ(mediaType("application/json"), "application/json");
  EXPECT_EQ(mediaType(" Application/JSON ; charset=utf-8"), "application/json");
  EXPECT_EQ(mediaType("text/plain"), "text/plain");
  EXPECT_EQ(mediaType(""), "");
}

TEST(Response, ErrorHasSpecShape) {
  auto response = Response::error(404, "not_found", "movie 7 does not exist");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.contentType, "application/json");
  auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["error"], "not_found");
  EXPECT_EQ(body["message"], "movie 7 does not exist");
}

// A failure carried as a Status to the edge is answered byte for byte as the shape written directly.
TEST(Response, AFailedStatusIsTheSameErrorShape) {
  auto json = Response::error(Status::fromHttp(400, "invalid_json", "the body is not valid JSON"));
  EXPECT_EQ(json.status, 400);
  EXPECT_EQ(json.body, Response::error(400, "invalid_json", "the body is not valid JSON").body);
  auto field =
      Response::error(Status::fromHttp(400, "invalid_field", "title is required").withField("title"));
  EXPECT_EQ(field.body, R"({"error":"invalid_field","field":"title","message":"title is required"})");
  auto media = Response::error(Status::fromHttp(415, "unsupported_media_type", "send JSON"));
  EXPECT_EQ(media.status, 415);
  // Without an HTTP status and reason: the code decides.
  EXPECT_EQ(Response::error(Status::unavailable("down")).status, 503);
  EXPECT_EQ(Response::error(Status::notFound("gone")).body, R"({"error":"not_found","message":"gone"})");
  EXPECT_EQ(Response::error(Status::internal("x")).status, 500);
  EXPECT_TRUE(json.headers.empty()) << "no header unless the Status calls for one";
}

// The headers a refusal's answer must carry come from the Status: a rate limit's Retry-After, a 401's
// challenge.
TEST(Response, AFailedStatusBringsTheHeadersItsAnswerCallsFor) {
  using Headers = std::vector<std::pair<std::string, std::string>>;
  auto limited = Response::error(
      Status::fromHttp(429, "rate_limited", "retry after 3 s").withRetryAfter(std::chrono::seconds(3)));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.body, R"({"error":"rate_limited","message":"retry after 3 s"})");
  EXPECT_EQ(limited.headers, (Headers{{"Retry-After", "3"}}));
  auto unauthorized = Response::error(Status::fromHttp(401, "unauthorized", "POST needs a token"));
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_EQ(unauthorized.headers, (Headers{{"WWW-Authenticate", "Bearer realm=\"movie-platform\""}}));
}

}  // namespace
}  // namespace mp::http
