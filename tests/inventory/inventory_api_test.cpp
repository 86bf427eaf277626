// inventory-app as a real process against the real PostgreSQL, spoken to over HTTP on 127.0.0.1.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_client.h"
#include "support/services.h"
#include "support/test_database.h"

namespace mp::test {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

const Headers kJson = {{"Content-Type", "application/json"}};

class InventoryApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new TestDatabase("inventory_api");
    app_ = inventoryApp(db_->url(),
                        {{"DB_POOL_SIZE", "4"}, {"MAX_REQUEST_BYTES", "1048576"}, {"ACCESS_LOG", "on"}});
    ASSERT_TRUE(app_->start()) << app_->output();
    ASSERT_TRUE(waitForStatus(app_->port(), "/readyz", 200, std::chrono::seconds(20))) << app_->output();
  }
  static void TearDownTestSuite() {
    if (app_) {
      EXPECT_EQ(app_->stop(), 0) << "SIGTERM must drain and exit 0";
    }
    app_.reset();
    delete db_;
    db_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(app_, nullptr);
    client_ = std::make_unique<HttpClient>(app_->port());
    ASSERT_EQ(client_->request("DELETE", "/api/movies").status, 200);
  }

  json create(const std::string& title, const std::string& description = "") {
    auto reply =
        client_->request("POST", "/api/movies", json{{"title", title}, {"description", description}}.dump());
    EXPECT_EQ(reply.status, 201) << reply.body;
    return json::parse(reply.body);
  }

  static TestDatabase* db_;
  static inline std::unique_ptr<ServiceProcess> app_;
  std::unique_ptr<HttpClient> client_;
};

TestDatabase* InventoryApi::db_ = nullptr;

TEST_F(InventoryApi, CreateReadUpdateDeleteFollowTheSpec) {
  auto created = client_->request("POST", "/api/movies",
                                  R"({"title":"A new movie","description":"Very short description"})");
  ASSERT_EQ(created.status, 201);
  auto movie = json::parse(created.body);
  ASSERT_TRUE(movie["id"].is_number_integer());
  EXPECT_EQ(movie["title"], "A new movie");
  EXPECT_EQ(movie["description"], "Very short description");
  std::string path = "/api/movies/" + std::to_string(movie["id"].get<int64_t>());
  EXPECT_EQ(created.header("location"), path);
  EXPECT_EQ(created.header("content-type"), "application/json");

  auto fetched = client_->request("GET", path);
  ASSERT_EQ(fetched.status, 200);
  EXPECT_EQ(json::parse(fetched.body), movie);

  auto all = client_->request("GET", "/api/movies/");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(json::parse(all.body), json::array({movie}));

  auto updated = client_->request("PUT", path, R"({"title":"Renamed"})");
  ASSERT_EQ(updated.status, 200);
  EXPECT_EQ(json::parse(updated.body)["title"], "Renamed");
  EXPECT_EQ(json::parse(updated.body)["description"], "");
  EXPECT_EQ(json::parse(client_->request("GET", path).body)["title"], "Renamed");

  auto deleted = client_->request("DELETE", path);
  ASSERT_EQ(deleted.status, 200);
  EXPECT_EQ(json::parse(deleted.body), json({{"deleted", 1}}));

  for (const auto& [method, body] : std::vector<std::pair<std::string, std::string>>{
           {"GET", ""}, {"PUT", R"({"title":"x"})"}, {"DELETE", ""}}) {
    auto missing = client_->request(method, path, body);
    EXPECT_EQ(missing.status, 404) << method;
    EXPECT_EQ(json::parse(missing.body)["error"], "not_found") << method;
  }
}

// What people read first comes first: every movie on the wire is {"id", "title", "description"} in
// that order (POST, GET one, GET all, PUT), not the alphabetical order of a sorted JSON object.
TEST_F(InventoryApi, MovieJsonKeysAreIdTitleDescriptionInThatOrder) {
  auto created = client_->request("POST", "/api/movies", R"({"description":"d","title":"Keys in order"})");
  ASSERT_EQ(created.status, 201);
  auto id = std::to_string(json::parse(created.body)["id"].get<int64_t>());
  std::string expected = R"({"id":)" + id + R"(,"title":"Keys in order","description":"d"})";
  EXPECT_EQ(created.body, expected);
  EXPECT_EQ(client_->request("GET", "/api/movies/" + id).body, expected);
  EXPECT_EQ(client_->request("GET", "/api/movies").body, "[" + expected + "]");
  auto updated =
      client_->request("PUT", "/api/movies/" + id, R"({"description":"e","title":"Keys in order"})");
  EXPECT_EQ(updated.body, R"({"id":)" + id + R"(,"title":"Keys in order","description":"e"})");
}

TEST_F(InventoryApi, ListIsOrderedByIdWithLimitAndOffset) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(create("Movie " + std::to_string(i))["id"]);
  }
  auto all = json::parse(client_->request("GET", "/api/movies").body);
  ASSERT_EQ(all.size(), 5u);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(all[i]["id"], ids[i]);
  }
  auto page = json::parse(client_->request("GET", "/api/movies?limit=2&offset=1").body);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0]["id"], ids[1]);
  EXPECT_EQ(page[1]["id"], ids[2]);
  EXPECT_EQ(json::parse(client_->request("GET", "/api/movies?limit=0").body).size(), 0u);
}

// The target of a `Link: <target>; rel="next"` header (RFC 8288), exactly that shape; "" when there is none.
std::string nextTarget(const HttpReply& reply) {
  auto link = reply.header("link");
  if (!link) {
    return "";
  }
  const std::string suffix = ">; rel=\"next\"";
  EXPECT_TRUE(link->size() > 1 + suffix.size() && link->front() == '<' &&
              link->compare(link->size() - suffix.size(), suffix.size(), suffix) == 0)
      << *link;
  return link->substr(1, link->size() - 1 - suffix.size());
}

std::vector<int64_t> idsOf(const HttpReply& reply) {
  std::vector<int64_t> ids;
  for (const auto& movie : json::parse(reply.body)) {
    ids.push_back(movie["id"]);
  }
  return ids;
}

// Keyset pages (docs/openapi.yaml, listMovies): each page's Link names the next, the last page has none,
// and following them from ?limit=N visits every movie once, in id order.
TEST_F(InventoryApi, KeysetPagesFollowLinkToTheEndAndTheLastHasNone) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(create("Movie " + std::to_string(i))["id"]);
  }
  auto first = client_->request("GET", "/api/movies?limit=2");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(idsOf(first), std::vector<int64_t>({ids[0], ids[1]}));
  EXPECT_EQ(first.header("link"),
            "</api/movies?limit=2&after_id=" + std::to_string(ids[1]) + ">; rel=\"next\"");

  std::vector<int64_t> seen = idsOf(first);
  std::string target = nextTarget(first);
  int pages = 1;
  while (!target.empty() && pages < 10) {
    auto page = client_->request("GET", target);
    ASSERT_EQ(page.status, 200) << target << ": " << page.body;
    auto pageIds = idsOf(page);
    ASSERT_FALSE(pageIds.empty()) << target << ": a Link must never lead to an empty page";
    seen.insert(seen.end(), pageIds.begin(), pageIds.end());
    target = nextTarget(page);
    ++pages;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);

  // A full page with nothing after it has no Link either (one row more than the limit is read); nor has a
  // list without a limit, nor limit=0.
  for (const std::string& last : std::vector<std::string>{
           "/api/movies?limit=5", "/api/movies?limit=3&after_id=" + std::to_string(ids[1]), "/api/movies",
           "/api/movies?limit=0", "/api/movies?after_id=0"}) {
    auto page = client_->request("GET", last);
    ASSERT_EQ(page.status, 200) << last;
    EXPECT_FALSE(page.header("link")) << last << ": " << page.header("link").value_or("");
  }
  EXPECT_EQ(idsOf(client_->request("GET", "/api/movies?after_id=0")), ids);
  EXPECT_EQ(idsOf(client_->request("GET", "/api/movies?after_id=" + std::to_string(ids[4]))).size(), 0u);
}

// The title filter (and any other parameter) is kept in the Link, encoded; the pages hold matches only.
TEST_F(InventoryApi, KeysetLinkKeepsTheTitleFilter) {
  std::vector<int64_t> matches;
  for (const auto& [title, matching] : std::vector<std::pair<std::string, bool>>{{"Star Wars", true},
                                                                                 {"Other", false},
                                                                                 {"star wars II", true},
                                                                                 {"Wars, stars", false},
                                                                                 {"STAR WARS III", true}}) {
    auto id = create(title)["id"].get<int64_t>();
    if (matching) {
      matches.push_back(id);
    }
  }
  ASSERT_EQ(matches.size(), 3u);
  auto first = client_->request("GET", "/api/movies?lang=en&limit=1&title=star+wars");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("link"), "</api/movies?title=star%20wars&limit=1&lang=en&after_id=" +
                                      std::to_string(matches[0]) + ">; rel=\"next\"");
  std::vector<int64_t> seen = idsOf(first);
  for (std::string target = nextTarget(first); !target.empty() && seen.size() < 10;) {
    auto page = client_->request("GET", target);
    ASSERT_EQ(page.status, 200) << target;
    auto pageIds = idsOf(page);
    seen.insert(seen.end(), pageIds.begin(), pageIds.end());
    target = nextTarget(page);
  }
  EXPECT_EQ(seen, matches);
}

// after_id and offset together: offset skips that many more after after_id (docs/openapi.yaml), and the Link
// of an offset page continues by after_id, without the offset.
TEST_F(InventoryApi, OffsetCountsFromAfterIdAndOffsetPagesLinkByKeyset) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(create("Movie " + std::to_string(i))["id"]);
  }
  auto both = client_->request("GET", "/api/movies?after_id=" + std::to_string(ids[0]) + "&offset=1&limit=2");
  ASSERT_EQ(both.status, 200) << both.body;
  EXPECT_EQ(idsOf(both), std::vector<int64_t>({ids[2], ids[3]}));
  EXPECT_EQ(both.header("link"),
            "</api/movies?limit=2&after_id=" + std::to_string(ids[3]) + ">; rel=\"next\"");

  auto byOffset = client_->request("GET", "/api/movies?limit=2&offset=3");
  EXPECT_EQ(idsOf(byOffset), std::vector<int64_t>({ids[3], ids[4]}));
  EXPECT_EQ(byOffset.header("link"),
            "</api/movies?limit=2&after_id=" + std::to_string(ids[4]) + ">; rel=\"next\"");
}

// A bad after_id is the 400 a bad offset is: {"error": "invalid_field", "field": "after_id", "message"}.
TEST_F(InventoryApi, BadAfterIdIsA400NamingTheFieldLikeABadOffset) {
  create("one");
  for (const std::string value : {"abc", "-1", "1.5", "", "9223372036854775808", "%2B1"}) {
    auto reply = client_->request("GET", "/api/movies?limit=1&after_id=" + value);
    EXPECT_EQ(reply.status, 400) << value << ": " << reply.body;
    auto body = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << reply.body;
    EXPECT_EQ(body["error"], "invalid_field") << value;
    EXPECT_EQ(body["field"], "after_id") << value;
    EXPECT_TRUE(body["message"].is_string()) << value;
    EXPECT_FALSE(reply.header("link")) << value;
  }
  auto offset = json::parse(client_->request("GET", "/api/movies?offset=x").body);
  EXPECT_EQ(offset["error"], "invalid_field");
  EXPECT_EQ(offset["field"], "offset");
}

TEST_F(InventoryApi, DeleteAllReportsHowManyWentAway) {
  create("one");
  create("two");
  create("three");
  auto reply = client_->request("DELETE", "/api/movies");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(json::parse(reply.body), json({{"deleted", 3}}));
  EXPECT_EQ(json::parse(client_->request("GET", "/api/movies").body), json::array());
}

TEST_F(InventoryApi, TitleSearchIsCaseInsensitiveAndTreatsWildcardsLiterally) {
  create("The Matrix");
  create("matrix reloaded");
  create("50% off");
  create("500 days");
  create("a_b");
  create("axb");
  auto titles = [&](const std::string& query) {
    std::vector<std::string> found;
    auto reply = client_->request("GET", "/api/movies?title=" + query);
    EXPECT_EQ(reply.status, 200) << query;
    for (const auto& movie : json::parse(reply.body)) {
      found.push_back(movie["title"]);
    }
    return found;
  };
  EXPECT_EQ(titles("MATRIX"), (std::vector<std::string>{"The Matrix", "matrix reloaded"}));
  EXPECT_EQ(titles("50%25"), (std::vector<std::string>{"50% off"}));
  EXPECT_EQ(titles("a_b"), (std::vector<std::string>{"a_b"}));
  EXPECT_EQ(titles("%25"), (std::vector<std::string>{"50% off"}));
  EXPECT_EQ(titles("_"), (std::vector<std::string>{"a_b"}));
  EXPECT_EQ(titles("nothing+like+this"), (std::vector<std::string>{}));
  EXPECT_EQ(titles("matrix&limit=1"), (std::vector<std::string>{"The Matrix"}));
}

TEST_F(InventoryApi, SqlMetacharactersAreStoredAsText) {
  std::string evil = "x'); DROP TABLE movies; --";
  auto movie = create(evil, "\"quoted\" \\ backslash; SELECT 1");
  EXPECT_EQ(movie["title"], evil);
  auto found = json::parse(client_->request("GET", "/api/movies?title=DROP+TABLE").body);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["title"], evil);
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM movies"), "1");
}

TEST_F(InventoryApi, UnicodeTitlesRoundTrip) {
  auto movie = create("Amélie 🎬 千と千尋", "ünïcödé");
  auto fetched =
      json::parse(client_->request("GET", "/api/movies/" + std::to_string(movie["id"].get<int64_t>())).body);
  EXPECT_EQ(fetched["title"], "Amélie 🎬 千と千尋");
  EXPECT_EQ(json::parse(client_->request("GET", "/api/movies?title=AM%C3%89LIE").body).size(), 1u);
}

// Each hostile request gets the JSON error of docs/openapi.yaml with the right status, and the process keeps
// serving.
TEST_F(InventoryApi, BadInputTable) {
  auto movie = create("target");
  std::string id = std::to_string(movie["id"].get<int64_t>());
  struct Case {
    std::string name;
    std::string method;
    std::string target;
    std::string body;
    Headers headers;
    int status;
    std::string error;  // expected "error" code
  };
  std::vector<Case> cases = {
      {"malformed JSON", "POST", "/api/movies", R"({"title":)", kJson, 400, "invalid_json"},
      {"JSON array", "POST", "/api/movies", R"(["title"])", kJson, 400, "invalid_json"},
      {"JSON string", "POST", "/api/movies", R"("title")", kJson, 400, "invalid_json"},
      {"JSON number", "POST", "/api/movies", "42", kJson, 400, "invalid_json"},
      {"JSON null", "POST", "/api/movies", "null", kJson, 400, "invalid_json"},
      {"empty body", "POST", "/api/movies", "", kJson, 400, "invalid_json"},
      {"title number", "POST", "/api/movies", R"({"title":1})", kJson, 400, "invalid_field"},
      {"title null", "POST", "/api/movies", R"({"title":null})", kJson, 400, "invalid_field"},
      {"title array", "POST", "/api/movies", R"({"title":["a"]})", kJson, 400, "invalid_field"},
      {"title object", "POST", "/api/movies", R"({"title":{"a":1}})", kJson, 400, "invalid_field"},
      {"title bool", "POST", "/api/movies", R"({"title":true})", kJson, 400, "invalid_field"},
      {"description number", "POST", "/api/movies", R"({"title":"t","description":3})", kJson, 400,
       "invalid_field"},
      {"missing title", "POST", "/api/movies", R"({"description":"d"})", kJson, 400, "invalid_field"},
      {"empty title", "POST", "/api/movies", R"({"title":""})", kJson, 400, "invalid_field"},
      {"oversized title", "POST", "/api/movies", json{{"title", std::string(256, 'x')}}.dump(), kJson, 400,
       "invalid_field"},
      {"NUL in title", "POST", "/api/movies", R"({"title":"a\u0000b"})", kJson, 400, "invalid_field"},
      {"invalid UTF-8 body", "POST", "/api/movies", "{\"title\":\"\xff\xfe\"}", kJson, 400, "invalid_json"},
      {"deep nesting", "POST", "/api/movies",
       "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}", kJson, 400, "invalid_json"},
      {"2 MB body", "POST", "/api/movies", std::string(2 * 1024 * 1024, 'x'), kJson, 413,
       "payload_too_large"},
      {"text/plain",
       "POST",
       "/api/movies",
       R"({"title":"t"})",
       {{"Content-Type", "text/plain"}},
       415,
       "unsupported_media_type"},
      {"no content type", "POST", "/api/movies", R"({"title":"t"})", {}, 415, "unsupported_media_type"},
      {"form encoded",
       "POST",
       "/api/movies",
       "title=t",
       {{"Content-Type", "application/x-www-form-urlencoded"}},
       415,
       "unsupported_media_type"},
      {"PUT bad JSON", "PUT", "/api/movies/" + id, "{", kJson, 400, "invalid_json"},
      {"PUT wrong type", "PUT", "/api/movies/" + id, R"({"title":5})", kJson, 400, "invalid_field"},
      {"id abc", "GET", "/api/movies/abc", "", {}, 400, "invalid_id"},
      {"id -1", "GET", "/api/movies/-1", "", {}, 400, "invalid_id"},
      {"id 0", "GET", "/api/movies/0", "", {}, 400, "invalid_id"},
      {"id too large", "GET", "/api/movies/99999999999999999999", "", {}, 400, "invalid_id"},
      {"id 1.5", "GET", "/api/movies/1.5", "", {}, 400, "invalid_id"},
      {"id with SQL", "GET", "/api/movies/1;DROP%20TABLE%20movies", "", {}, 400, "invalid_id"},
      {"PUT id abc", "PUT", "/api/movies/abc", R"({"title":"t"})", kJson, 400, "invalid_id"},
      {"DELETE id abc", "DELETE", "/api/movies/abc", "", {}, 400, "invalid_id"},
      {"PATCH", "PATCH", "/api/movies/" + id, R"({"title":"t"})", kJson, 405, "method_not_allowed"},
      {"POST on an id", "POST", "/api/movies/" + id, R"({"title":"t"})", kJson, 405, "method_not_allowed"},
      {"OPTIONS", "OPTIONS", "/api/movies", "", {}, 405, "method_not_allowed"},
      {"path traversal", "GET", "/api/movies/../../etc/passwd", "", {}, 404, "not_found"},
      {"encoded traversal", "GET", "/api/movies/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "", {}, 400, "invalid_id"},
      {"unknown path", "GET", "/api/films", "", {}, 404, "not_found"},
      {"limit abc", "GET", "/api/movies?limit=abc", "", {}, 400, "invalid_field"},
      {"offset -1", "GET", "/api/movies?offset=-1", "", {}, 400, "invalid_field"},
      {"after_id abc", "GET", "/api/movies?after_id=abc", "", {}, 400, "invalid_field"},
      {"after_id -1", "GET", "/api/movies?after_id=-1&limit=2", "", {}, 400, "invalid_field"},
      {"bad escape in query", "GET", "/api/movies?title=%zz", "", {}, 400, "bad_request"},
      {"invalid UTF-8 in query", "GET", "/api/movies?title=%ff%fe", "", {}, 400, "invalid_field"},
  };
  ASSERT_GE(cases.size(), 30u);
  for (const auto& c : cases) {
    HttpClient client(app_->port());
    auto reply = client.request(c.method, c.target, c.body, c.headers);
    EXPECT_EQ(reply.status, c.status) << c.name << ": " << reply.body;
    auto body = json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << c.name << ": " << reply.body;
    EXPECT_EQ(body["error"], c.error) << c.name;
    EXPECT_TRUE(body["message"].is_string()) << c.name;
    if (c.status == 405) {
      EXPECT_TRUE(reply.header("allow")) << c.name;
    }
    ASSERT_TRUE(app_->running()) << "after " << c.name;
    HttpClient probe(app_->port());
    ASSERT_EQ(probe.request("GET", "/api/movies/" + id).status, 200) << "after " << c.name;
  }
  // An unknown method is not even HTTP Pistache knows: still a JSON 400, and the process lives.
  HttpClient raw(app_->port());
  auto reply = raw.raw("BREW /api/movies HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(json::parse(reply.body)["error"], "bad_request");
  EXPECT_EQ(db_->scalar("SELECT count(*) FROM movies"), "1");
  EXPECT_EQ(db_->scalar("SELECT title FROM movies"), "target");
}

TEST_F(InventoryApi, SlowSqlStallsAtMostThePoolNotTheServer) {
  create("locked");
  // Hold an exclusive lock so that movie queries wait; the service's pool has 4 connections.
  PGconn* locker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(locker), CONNECTION_OK);
  PQclear(PQexec(locker, "BEGIN"));
  PQclear(PQexec(locker, "LOCK TABLE movies IN ACCESS EXCLUSIVE MODE"));
  std::vector<std::future<int>> stuck;
  for (int i = 0; i < 2; ++i) {
    stuck.push_back(std::async(std::launch::async, [] {
      HttpClient client(app_->port(), std::chrono::seconds(20));
      return client.request("GET", "/api/movies").status;
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Two workers wait on the lock; health, metrics and a query that needs a free connection still answer.
  HttpClient other(app_->port(), std::chrono::seconds(3));
  EXPECT_EQ(other.request("GET", "/healthz").status, 200);
  EXPECT_EQ(other.request("GET", "/metrics").status, 200);
  EXPECT_EQ(other.request("GET", "/readyz").status, 200);
  for (auto& s : stuck) {
    EXPECT_EQ(s.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  }
  PQclear(PQexec(locker, "COMMIT"));
  PQfinish(locker);
  for (auto& s : stuck) {
    EXPECT_EQ(s.get(), 200);
  }
}

// One movie's routes answer from the pool's event loop: an update stuck on a row lock holds one of the
// four connections, and reads of other movies go on through the others meanwhile.
TEST_F(InventoryApi, AnUpdateWaitingOnARowLockHoldsUpNoRead) {
  const auto locked = create("locked row")["id"].get<int64_t>();
  const auto other = create("free row")["id"].get<int64_t>();
  PGconn* locker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(locker), CONNECTION_OK);
  PQclear(PQexec(locker, "BEGIN"));
  PQclear(
      PQexec(locker, ("SELECT * FROM movies WHERE id = " + std::to_string(locked) + " FOR UPDATE").c_str()));
  auto update = std::async(std::launch::async, [locked] {
    HttpClient client(app_->port(), std::chrono::seconds(20));
    return client.request("PUT", "/api/movies/" + std::to_string(locked), R"({"title":"updated"})", kJson)
        .status;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  HttpClient reader(app_->port(), std::chrono::seconds(3));
  for (int i = 0; i < 100; ++i) {
    auto reply = reader.request("GET", "/api/movies/" + std::to_string(other));
    ASSERT_EQ(reply.status, 200) << reply.body;
  }
  EXPECT_EQ(update.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "the update did not wait for the lock";
  PQclear(PQexec(locker, "COMMIT"));
  PQfinish(locker);
  EXPECT_EQ(update.get(), 200);
  EXPECT_EQ(db_->scalar("SELECT title FROM movies WHERE id = " + std::to_string(locked)), "updated");
}

TEST_F(InventoryApi, MetricsUseRouteTemplatesAndPoolGauges) {
  auto movie = create("metered");
  client_->request("GET", "/api/movies/" + std::to_string(movie["id"].get<int64_t>()));
  auto metrics = client_->request("GET", "/metrics").body;
  EXPECT_NE(metrics.find("http_requests_total{code=\"200\",method=\"GET\",route=\"/api/movies/:id\","
                         "service=\"inventory-app\"}"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("db_pool_connections{service=\"inventory-app\",state=\"idle\"}"), std::string::npos);
  EXPECT_EQ(metrics.find("route=\"/api/movies/" + std::to_string(movie["id"].get<int64_t>())),
            std::string::npos);
}

TEST(InventoryConfig, MissingOrBadSettingsStopWithOneClearLine) {
  std::string binary = ServiceProcess::binaryFromEnvironment("MP_INVENTORY_APP");
  ServiceProcess missing(binary, {{"INVENTORY_DATABASE_URL", ""}});
  EXPECT_EQ(missing.runToExit(), 2);
  std::string said = missing.output();
  EXPECT_NE(said.find("INVENTORY_DATABASE_URL"), std::string::npos) << said;
  EXPECT_EQ(std::count(said.begin(), said.end(), '\n'), 1) << said;

  ServiceProcess badPort(binary, {{"INVENTORY_DATABASE_URL", "postgresql://u:secret@127.0.0.1/x"},
                                  {"INVENTORY_APP_PORT", "eighty"}});
  EXPECT_EQ(badPort.runToExit(), 2);
  EXPECT_NE(badPort.output().find("INVENTORY_APP_PORT"), std::string::npos) << badPort.output();

  ServiceProcess badUrl(binary, {{"INVENTORY_DATABASE_URL", "mysql://u:secret@h/x"}});
  EXPECT_EQ(badUrl.runToExit(), 2);
  EXPECT_EQ(badUrl.output().find("secret"), std::string::npos) << "never echo credentials";

  ServiceProcess help(binary, {}, {"--help"});
  EXPECT_EQ(help.runToExit(), 0);
  for (const char* name : {"INVENTORY_APP_PORT", "INVENTORY_DATABASE_URL", "BIND_ADDRESS", "LOG_LEVEL"}) {
    EXPECT_NE(help.output().find(name), std::string::npos) << name;
  }
}

// While the database is away the schema migration is retried with a growing wait (100 ms doubling to
// 2 s); SIGTERM ends that wait at once (base/retry.h) instead of being held until it runs out.
TEST(InventoryShutdown, SigtermEndsTheWaitBetweenMigrationAttempts) {
  auto app = inventoryApp("postgresql://nobody@/movies?host=/nonexistent-socket-dir");
  ASSERT_TRUE(app->start()) << app->output();
  // Written just before the fifth wait, of 1600 ms.
  ASSERT_TRUE(app->waitForOutput("\"retry_in_ms\":1600", std::chrono::seconds(20))) << app->output();
  const auto signalled = std::chrono::steady_clock::now();
  EXPECT_EQ(app->stop(), 0) << app->output();
  const auto tookMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - signalled);
  EXPECT_LT(tookMs.count(), 1000) << "exit took " << tookMs.count()
                                  << " ms after SIGTERM: it waited out the migration backoff";
}

}  // namespace
}  // namespace mp::test
