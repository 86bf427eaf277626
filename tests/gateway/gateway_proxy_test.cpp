// api-gateway in front of a real inventory-app: requests go up and answers come back unchanged,
// upstream connections are reused, and an unreachable or slow inventory is a fast 502 or 504.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/services.h"
#include "support/tcp_proxy.h"
#include "support/test_database.h"

namespace mp::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Established TCP connections whose local port is `port` (the server side of each connection).
int establishedTo(uint16_t port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);
  int count = 0;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    unsigned localPort = std::stoul(local.substr(local.find(':') + 1), nullptr, 16);
    count += localPort == port && state == "01";
  }
  return count;
}

// A connection holding the movies table locked (every inventory query on it waits); COMMIT frees it.
PGconn* lockMovies(const std::string& url) {
  PGconn* locker = PQconnectdb(url.c_str());
  if (PQstatus(locker) != CONNECTION_OK) {
    PQfinish(locker);
    return nullptr;
  }
  PQclear(PQexec(locker, "BEGIN"));
  PQclear(PQexec(locker, "LOCK TABLE movies IN ACCESS EXCLUSIVE MODE"));
  return locker;
}

class GatewayProxy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new TestDatabase("gateway_proxy");
    inventory_ = inventoryApp(db_->url());
    ASSERT_TRUE(inventory_->start()) << inventory_->output();
    ASSERT_TRUE(waitForStatus(inventory_->port(), "/readyz", 200, std::chrono::seconds(20)));
    gateway_ = apiGateway(inventory_->port(),
                          {{"GATEWAY_WORKERS", "2"},
                           // One reactor, so that the two upstream connections are one loop's: the
                           // counts below are of /proc/net/tcp, which also holds the readiness check's
                           // own libcurl connection, and two reactors would hold one connection each
                           // once both had served (GATEWAY_WORKERS is split over the reactors).
                           {"HTTP_THREADS", "1"},
                           {"UPSTREAM_TIMEOUT", "700ms"}});
    ASSERT_TRUE(gateway_->start()) << gateway_->output();
  }
  static void TearDownTestSuite() {
    if (gateway_) {
      EXPECT_EQ(gateway_->stop(), 0);
    }
    gateway_.reset();
    inventory_.reset();
    delete db_;
  }
  void SetUp() override {
    ASSERT_TRUE(inventory_ && inventory_->running());
    HttpClient(inventory_->port()).request("DELETE", "/api/movies");
  }

  static TestDatabase* db_;
  static inline std::unique_ptr<ServiceProcess> inventory_;
  static inline std::unique_ptr<ServiceProcess> gateway_;
};

TestDatabase* GatewayProxy::db_ = nullptr;

// Readiness (docs/contract.md, readiness): the broker serves one route only. This suite's gateway has no
// reachable RabbitMQ (port 1): it is ready, movie requests are served, and an order is a fast 503.
TEST_F(GatewayProxy, ReadyAndServingMoviesWhileTheBrokerIsUnreachable) {
  HttpClient gateway(gateway_->port());
  auto ready = gateway.request("GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(gateway.request("GET", "/api/movies").status, 200);
  for (int i = 0; i < 3; ++i) {
    auto started = Clock::now();
    auto order =
        gateway.request("POST", "/api/billing", R"({"user_id":"1","number_of_items":1,"total_amount":2})");
    EXPECT_EQ(order.status, 503) << order.body;
    EXPECT_EQ(json::parse(order.body)["error"], "broker_unavailable") << order.body;
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(1));
  }
}

TEST_F(GatewayProxy, MovieRequestsGoUpAndAnswersComeBackUnchanged) {
  HttpClient gateway(gateway_->port());
  auto created = gateway.request("POST", "/api/movies",
                                 R"({"title":"A new movie","description":"Very short description"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto movie = json::parse(created.body);
  EXPECT_EQ(movie["title"], "A new movie");
  EXPECT_EQ(created.header("location"), "/api/movies/" + std::to_string(movie["id"].get<int64_t>()));
  EXPECT_EQ(created.header("content-type"), "application/json");

  auto listed = gateway.request("GET", "/api/movies/");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(json::parse(listed.body), json::array({movie}));
  EXPECT_EQ(json::parse(gateway.request("GET", "/api/movies?title=NEW").body).size(), 1u);
  EXPECT_EQ(json::parse(gateway.request("GET", "/api/movies?title=absent").body).size(), 0u);

  // Errors and their bodies are inventory's own, byte for byte.
  HttpClient direct(inventory_->port());
  for (const auto& [method, target, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/api/movies/999999", ""},
           {"GET", "/api/movies/abc", ""},
           {"POST", "/api/movies", "{"},
           {"PUT", "/api/movies/1", R"({"title":""})"},
           {"PATCH", "/api/movies/1", "{}"},
           {"GET", "/api/movies?limit=-3", ""},
           {"GET", "/api/movies/1/cast", ""}}) {
    auto viaGateway = gateway.request(method, target, body);
    auto fromInventory = direct.request(method, target, body);
    EXPECT_EQ(viaGateway.status, fromInventory.status) << method << " " << target;
    EXPECT_EQ(viaGateway.body, fromInventory.body) << method << " " << target;
    EXPECT_EQ(viaGateway.header("content-type"), fromInventory.header("content-type")) << target;
    EXPECT_EQ(viaGateway.header("allow"), fromInventory.header("allow")) << target;
  }
  auto wrongType =
      gateway.request("POST", "/api/movies", R"({"title":"x"})", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(wrongType.status, 415) << "the content type goes up unchanged";

  auto updated = gateway.request("PUT", "/api/movies/" + std::to_string(movie["id"].get<int64_t>()),
                                 R"({"title":"Renamed"})");
  EXPECT_EQ(json::parse(updated.body)["title"], "Renamed");
  auto deleted = gateway.request("DELETE", "/api/movies");
  EXPECT_EQ(json::parse(deleted.body), json({{"deleted", 1}}));
}

// A list page's `Link: <...>; rel="next"` comes back as inventory-app sent it; its absolute path is the
// gateway's too, so following it through the gateway reaches the next page.
TEST_F(GatewayProxy, ListPagesLinkHeaderComesBackAndLeadsToTheNextPage) {
  HttpClient gateway(gateway_->port());
  std::vector<int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto created =
        gateway.request("POST", "/api/movies", json{{"title", "Page " + std::to_string(i)}}.dump());
    ASSERT_EQ(created.status, 201) << created.body;
    ids.push_back(json::parse(created.body)["id"]);
  }
  auto first = gateway.request("GET", "/api/movies?limit=2&title=page");
  ASSERT_EQ(first.status, 200) << first.body;
  auto direct = HttpClient(inventory_->port()).request("GET", "/api/movies?limit=2&title=page");
  ASSERT_TRUE(direct.header("link"));
  EXPECT_EQ(first.header("link"), direct.header("link"));
  EXPECT_EQ(first.header("link"),
            "</api/movies?title=page&limit=2&after_id=" + std::to_string(ids[1]) + ">; rel=\"next\"");
  auto link = first.header("link").value_or("<>");
  auto next = gateway.request("GET", link.substr(1, link.find('>') - 1));
  ASSERT_EQ(next.status, 200) << next.body;
  ASSERT_EQ(json::parse(next.body).size(), 1u);
  EXPECT_EQ(json::parse(next.body)[0]["id"], ids[2]);
  EXPECT_FALSE(next.header("link"));
}

TEST_F(GatewayProxy, UpstreamConnectionsAreKeptAliveAndReused) {
  HttpClient gateway(gateway_->port());
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(gateway.request("GET", "/api/movies").status, 200);
  }
  // GATEWAY_WORKERS=2: at most two upstream connections, not one per request.
  EXPECT_GE(establishedTo(inventory_->port()), 1);
  EXPECT_LE(establishedTo(inventory_->port()), 2);
}

TEST_F(GatewayProxy, DotSegmentsCannotReachOtherUpstreamRoutes) {
  HttpClient gateway(gateway_->port());
  auto reply = gateway.request("GET", "/api/movies/../../metrics");
  EXPECT_NE(reply.status, 200);
  EXPECT_EQ(reply.body.find("http_requests_total"), std::string::npos);
  EXPECT_EQ(gateway.request("GET", "/api/other").status, 404);
}

TEST_F(GatewayProxy, ServesTheOpenApiDocument) {
  HttpClient gateway(gateway_->port());
  auto docs = gateway.request("GET", "/api/docs");
  ASSERT_EQ(docs.status, 200);
  EXPECT_EQ(docs.header("content-type"), "application/yaml");
  EXPECT_EQ(docs.body.rfind("openapi: 3.0", 0), 0u);
  for (const char* path : {"/api/movies:", "/api/movies/{id}:", "/api/billing:", "/api/docs:"}) {
    EXPECT_NE(docs.body.find(path), std::string::npos) << path;
  }
}

TEST_F(GatewayProxy, SlowInventoryIs504AfterTheConfiguredTimeout) {
  HttpClient(inventory_->port()).request("POST", "/api/movies", R"({"title":"slow"})");
  PGconn* locker = lockMovies(db_->url());
  ASSERT_NE(locker, nullptr);
  HttpClient gateway(gateway_->port());
  auto started = Clock::now();
  auto reply = gateway.request("GET", "/api/movies");
  auto elapsed = Clock::now() - started;
  PQclear(PQexec(locker, "COMMIT"));
  PQfinish(locker);
  EXPECT_EQ(reply.status, 504) << reply.body;
  EXPECT_EQ(json::parse(reply.body)["error"], "upstream_timeout");
  EXPECT_GE(elapsed, std::chrono::milliseconds(650));
  EXPECT_LT(elapsed, std::chrono::milliseconds(2000));
  EXPECT_EQ(gateway.request("GET", "/api/movies").status, 200) << "recovers once inventory answers";
}

// What curl and browsers send (Accept: */*, which the gateway's parser keeps as an empty value) reaches
// inventory-app as a request it accepts.
TEST_F(GatewayProxy, CommonAcceptHeadersGoUpAsValidRequests) {
  HttpClient gateway(gateway_->port());
  HttpClient direct(inventory_->port());
  for (const char* accept : {"*/*", "application/json", "text/html,application/xhtml+xml,*/*;q=0.8"}) {
    auto viaGateway = gateway.request("GET", "/api/movies", "", {{"Accept", accept}});
    EXPECT_EQ(viaGateway.status, 200) << accept << ": " << viaGateway.body;
    EXPECT_EQ(viaGateway.status, direct.request("GET", "/api/movies", "", {{"Accept", accept}}).status)
        << accept;
  }
}

// The upstream answers arrive on the gateway's event loop: requests waiting for a slow inventory hold
// no worker thread, so the routes that need one (here POST /api/billing, a fast 503 without a broker)
// are answered at once while GATEWAY_WORKERS=2 such requests are in flight.
TEST_F(GatewayProxy, SlowUpstreamRequestsHoldNoWorkerThread) {
  HttpClient(inventory_->port()).request("POST", "/api/movies", R"({"title":"slow"})");
  PGconn* locker = lockMovies(db_->url());
  ASSERT_NE(locker, nullptr);
  std::vector<std::future<int>> slow;
  for (int i = 0; i < 2; ++i) {
    slow.push_back(std::async(std::launch::async, [] {
      return HttpClient(gateway_->port()).request("GET", "/api/movies").status;
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  HttpClient gateway(gateway_->port());
  auto started = Clock::now();
  auto order =
      gateway.request("POST", "/api/billing", R"({"user_id":"1","number_of_items":1,"total_amount":2})");
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  EXPECT_EQ(order.status, 503) << order.body;
  EXPECT_LT(elapsed.count(), 400) << "the order waited for a worker";
  for (auto& request : slow) {
    EXPECT_EQ(request.get(), 504);
  }
  PQclear(PQexec(locker, "COMMIT"));
  PQfinish(locker);
}

// An answer larger than any socket buffer comes back whole (a list of 3000 movies, about 250 kB).
TEST_F(GatewayProxy, LargeAnswersComeBackWhole) {
  PGconn* conn = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK);
  PQclear(PQexec(conn,
                 "INSERT INTO movies (title, description) SELECT 'movie ' || i, repeat('d', 60) || i "
                 "FROM generate_series(1, 3000) AS i"));
  PQfinish(conn);
  auto viaGateway = HttpClient(gateway_->port()).request("GET", "/api/movies");
  auto direct = HttpClient(inventory_->port()).request("GET", "/api/movies");
  ASSERT_EQ(viaGateway.status, 200);
  EXPECT_GT(viaGateway.body.size(), 200'000u);
  EXPECT_EQ(viaGateway.body, direct.body);
  std::string description(200'000, 'x');
  auto created =
      HttpClient(gateway_->port())
          .request("POST", "/api/movies", R"({"title":"long","description":")" + description + "\"}");
  EXPECT_EQ(created.status,
            HttpClient(inventory_->port())
                .request("POST", "/api/movies", R"({"title":"long","description":")" + description + "\"}")
                .status);
}

// Keep-alive upstream connections that the network or inventory-app closes between requests (a proxy
// closes them all here) are replaced: the next requests are answered as if nothing happened.
TEST_F(GatewayProxy, UpstreamConnectionsClosedBetweenRequestsAreReplaced) {
  TcpProxy proxy(inventory_->port());
  auto gateway = apiGateway(proxy.port(), {{"GATEWAY_WORKERS", "2"}});
  ASSERT_TRUE(gateway->start()) << gateway->output();
  HttpClient client(gateway->port());
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) {
      auto reply = client.request("GET", "/api/movies");
      EXPECT_EQ(reply.status, 200) << "round " << round << ": " << reply.body;
    }
    proxy.closeAll();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(proxy.connectionsAccepted(), 3) << "each round opened a new upstream connection";
  EXPECT_EQ(gateway->stop(), 0);
}

// Runs last in the suite: it stops inventory-app.
TEST_F(GatewayProxy, UnreachableInventoryIs502WithinASecond) {
  ASSERT_EQ(inventory_->stop(), 0);
  HttpClient gateway(gateway_->port());
  for (int i = 0; i < 3; ++i) {
    auto started = Clock::now();
    auto reply = gateway.request("GET", "/api/movies/1");
    auto elapsed = Clock::now() - started;
    EXPECT_EQ(reply.status, 502);
    EXPECT_EQ(json::parse(reply.body)["error"], "upstream_unavailable");
    EXPECT_LT(elapsed, std::chrono::seconds(1));
  }
  EXPECT_EQ(gateway.request("GET", "/readyz").status, 503);
  EXPECT_EQ(gateway.request("GET", "/healthz").status, 200);
}

}  // namespace
}  // namespace mp::test
