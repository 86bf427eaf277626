#include "inventory/movie.h"

#include <gtest/gtest.h>

namespace mp::inventory {
namespace {

http::Request post(std::string body, std::string contentType = "application/json") {
  http::Request request;
  request.method = "POST";
  request.body = std::move(body);
  request.headers.emplace_back("content-type", std::move(contentType));
  return request;
}

TEST(ParseMovieInput, AcceptsValidBodiesAndIgnoresUnknownFields) {
  auto input = parseMovieInput(post(R"({"title":"A new movie","description":"Very short","year":1999})"));
  ASSERT_TRUE(input.ok());
  EXPECT_EQ(input->title, "A new movie");
  EXPECT_EQ(input->description, "Very short");
  auto noDescription = parseMovieInput(post(R"({"title":"T"})"));
  ASSERT_TRUE(noDescription.ok());
  EXPECT_EQ(noDescription->description, "");
}

TEST(ParseMovieInput, TitleLengthCountsCharactersNotBytes) {
  std::string title;
  for (int i = 0; i < 255; ++i) {
    title += "\xc3\xa9";  // é: 2 bytes, 1 character
  }
  EXPECT_TRUE(parseMovieInput(post(nlohmann::json{{"title", title}}.dump())).ok());
  title += "e";
  EXPECT_FALSE(parseMovieInput(post(nlohmann::json{{"title", title}}.dump())).ok());
}

TEST(ParseMovieInput, RejectsBadBodiesWithFieldErrors) {
  struct Case {
    std::string body;
    int status;
    std::string field;
  } cases[] = {
      {R"({})", 400, "title"},
      {R"({"title":""})", 400, "title"},
      {R"({"title":null})", 400, "title"},
      {R"({"title":42})", 400, "title"},
      {R"({"title":["a"]})", 400, "title"},
      {R"({"title":"ok","description":5})", 400, "description"},
      {R"({"title":"ok","description":null})", 400, "description"},
      {R"({"title":"a\u0000b"})", 400, "title"},
      {nlohmann::json{{"title", std::string(256, 'x')}}.dump(), 400, "title"},
  };
  for (const auto& c : cases) {
    auto result = parseMovieInput(post(c.body));
    ASSERT_FALSE(result.ok()) << c.body;
    const auto response = http::Response::error(result.status());
    EXPECT_EQ(response.status, c.status) << c.body;
    auto json = nlohmann::json::parse(response.body);
    EXPECT_EQ(json["error"], "invalid_field") << c.body;
    EXPECT_EQ(json["field"], c.field) << c.body;
    EXPECT_TRUE(json["message"].is_string());
  }
}

TEST(ParseMovieId, AcceptsPositiveBigintsOnly) {
  EXPECT_EQ(parseMovieId("1"), 1);
  EXPECT_EQ(parseMovieId("9223372036854775807"), INT64_MAX);
  for (const char* bad : {"", "0", "-1", "abc", "1.5", "1e3", " 1", "9223372036854775808",
                          "99999999999999999999", "0x10", "+1"}) {
    EXPECT_FALSE(parseMovieId(bad)) << bad;
  }
}

TEST(ParseMovieQuery, ReadsTitleLimitAndOffset) {
  http::Request request;
  request.query = {{"title", "star"}, {"limit", "10"}, {"offset", "20"}};
  auto query = parseMovieQuery(request);
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(query->title, "star");
  EXPECT_EQ(query->limit, 10);
  EXPECT_EQ(query->offset, 20);
  EXPECT_FALSE(query->afterId);
  for (auto bad : std::vector<std::pair<std::string, std::string>>{{"limit", "-1"},
                                                                   {"limit", "x"},
                                                                   {"limit", "10001"},
                                                                   {"offset", "-5"},
                                                                   {"offset", "1.5"},
                                                                   {"after_id", ""},
                                                                   {"after_id", "-1"},
                                                                   {"after_id", "1.5"},
                                                                   {"after_id", "00"},
                                                                   {"after_id", "9223372036854775808"},
                                                                   {"after_id", "12abc"}}) {
    http::Request badRequest;
    badRequest.query = {bad};
    auto refused = parseMovieQuery(badRequest);
    ASSERT_FALSE(refused.ok()) << bad.first << "=" << bad.second;
    EXPECT_EQ(refused.status().httpStatus(), 400) << bad.first << "=" << bad.second;
    EXPECT_EQ(refused.status().field(), bad.first);
  }
}

// Every id a Link can name is accepted back, 0 means "from the first", and offset may come with it.
TEST(ParseMovieQuery, ReadsAfterIdFromZeroToTheLargestBigint) {
  for (auto [text, value] : std::vector<std::pair<std::string, int64_t>>{
           {"0", 0}, {"1", 1}, {"42", 42}, {"9223372036854775807", INT64_MAX}}) {
    http::Request request;
    request.query = {{"after_id", text}, {"offset", "3"}};
    auto query = parseMovieQuery(request);
    ASSERT_TRUE(query.ok()) << text;
    EXPECT_EQ(query->afterId, value);
    EXPECT_EQ(query->offset, 3);
  }
}

TEST(NextPageLink, PutsTitleAndLimitFirstKeepsTheRestAndReplacesAfterIdAndOffset) {
  EXPECT_EQ(nextPageLink({{"limit", "20"}}, 20), "</api/movies?limit=20&after_id=20>; rel=\"next\"");
  EXPECT_EQ(nextPageLink({{"title", "star wars"}, {"after_id", "5"}, {"limit", "2"}, {"offset", "7"}}, 9),
            "</api/movies?title=star%20wars&limit=2&after_id=9>; rel=\"next\"");
  EXPECT_EQ(nextPageLink({{"lang", "en"}, {"limit", "2"}, {"x", "1"}, {"title", "a"}}, 9),
            "</api/movies?title=a&limit=2&lang=en&x=1&after_id=9>; rel=\"next\"");
  // Whatever the title holds, the target stays one valid URI reference inside <...>.
  EXPECT_EQ(nextPageLink({{"title", "50% <b>&c=d\"+"}, {"limit", "1"}}, 3),
            "</api/movies?title=50%25%20%3Cb%3E%26c%3Dd%22%2B&limit=1&after_id=3>; rel=\"next\"");
}

TEST(ContainsPattern, EscapesLikeMetacharacters) {
  EXPECT_EQ(containsPattern("star"), "%star%");
  EXPECT_EQ(containsPattern("50%"), "%50\\%%");
  EXPECT_EQ(containsPattern("a_b"), "%a\\_b%");
  EXPECT_EQ(containsPattern("c:\\dir"), "%c:\\\\dir%");
  EXPECT_EQ(containsPattern(""), "%%");
}

// The movie's own writer gives the bytes json gives (the answers of GET, POST, PUT and the list).
TEST(MovieJson, TheWrittenTextIsWhatJsonWrites) {
  const Movie movies[] = {{7, "The Matrix", "Neo"},
                          {9223372036854775807, "quote \" back\\slash \x01 tab\t", ""},
                          {1, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac", "\xff invalid"}};
  std::string list = "[";
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const auto& movie : movies) {
    EXPECT_EQ(movieJson(movie), toJson(movie).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    array.push_back(toJson(movie));
  }
  EXPECT_EQ(moviesJson({movies[0], movies[1], movies[2]}),
            array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  EXPECT_EQ(moviesJson({}), "[]");
}

}  // namespace
}  // namespace mp::inventory
