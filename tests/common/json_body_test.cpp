#include "common/json_body.h"

#include <gtest/gtest.h>

namespace mp::http {
namespace {

Request jsonRequest(std::string body, std::string contentType = "application/json") {
  Request request;
  request.method = "POST";
  request.body = std::move(body);
  request.headers.emplace_back("content-type", std::move(contentType));
  return request;
}

TEST(ParseJsonObject, AcceptsAnObject) {
  auto out = parseJsonObject(jsonRequest(R"({"a":1})"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)["a"], 1);
  EXPECT_TRUE(parseJsonObject(jsonRequest(R"({"a":1})", "application/json; charset=utf-8")).ok());
}

TEST(ParseJsonObject, TheSameKeyInDifferentObjectsIsFine) {
  EXPECT_TRUE(parseJsonObject(jsonRequest(R"({"a":{"a":1},"b":[{"a":1},{"a":2}]})")).ok());
}

TEST(ParseJsonObject, RefusesWithTheRightStatus) {
  struct Case {
    std::string body;
    std::string contentType;
    int status;
  } cases[] = {
      {R"({"a":1})", "text/plain", 415},
      {R"({"a":1})", "", 415},
      {"{", "application/json", 400},
      {"[1,2]", "application/json", 400},
      {"\"text\"", "application/json", 400},
      {"{\"a\":\"\xff\"}", "application/json", 400},
      {std::string(40, '[') + std::string(40, ']'), "application/json", 400},
      {"", "application/json", 400},
      {R"({"a":1,"a":2})", "application/json", 400},
      {R"({"a":{"b":1,"b":1}})", "application/json", 400},
      {std::string("{\"a\":1}\0", 8), "application/json", 400},
      {std::string("{\"a\":\"x\0y\"}", 10), "application/json", 400},
  };
  for (const auto& c : cases) {
    auto parsed = parseJsonObject(jsonRequest(c.body, c.contentType));
    ASSERT_FALSE(parsed.ok()) << c.body;
    auto error = Response::error(parsed.status());
    EXPECT_EQ(error.status, c.status) << c.body;
    auto body = nlohmann::json::parse(error.body);
    EXPECT_TRUE(body.contains("error") && body.contains("message"));
  }
}

TEST(ParseJsonObject, DeepNestingIsRefusedWithoutRecursion) {
  std::string deep = "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  auto parsed = parseJsonObject(jsonRequest(deep));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(Response::error(parsed.status()).status, 400);
}

TEST(Utf8Length, CountsCodePoints) {
  EXPECT_EQ(utf8Length(""), 0u);
  EXPECT_EQ(utf8Length("abc"), 3u);
  EXPECT_EQ(utf8Length("caf\xc3\xa9"), 4u);
  EXPECT_EQ(utf8Length("\xf0\x9f\x8e\xac"), 1u);
}

}  // namespace
}  // namespace mp::http
