// api-gateway with API_GATEWAY_TOKEN and a rate limit, in front of a real inventory-app: writes need
// the bearer token (401 + WWW-Authenticate otherwise, and nothing reaches inventory), reads stay open,
// and a client over its rate gets 429 with Retry-After while health probes are still answered.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "support/http_client.h"
#include "support/services.h"
#include "support/test_database.h"

namespace mp::test {
namespace {

using nlohmann::json;
// A fresh token per run, so no credential sits in the source.
const std::string kToken = [] {
  std::random_device random;
  return "t-" + std::to_string(random()) + std::to_string(random());
}();

class GatewayAccess : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new TestDatabase("gateway_access");
    inventory_ = inventoryApp(db_->url());
    ASSERT_TRUE(inventory_->start()) << inventory_->output();
    ASSERT_TRUE(waitForStatus(inventory_->port(), "/readyz", 200, std::chrono::seconds(20)));
  }
  static void TearDownTestSuite() {
    inventory_.reset();
    delete db_;
  }

  // A gateway in front of the suite's inventory with extra settings; stopped by the caller's scope.
  static std::unique_ptr<ServiceProcess> startGateway(const EnvironmentOverrides& settings) {
    auto gateway = apiGateway(inventory_->port(), settings);
    EXPECT_TRUE(gateway->start()) << gateway->output();
    return gateway;
  }

  static int64_t movieCount() {
    return static_cast<int64_t>(
        json::parse(HttpClient(inventory_->port()).request("GET", "/api/movies").body).size());
  }

  static TestDatabase* db_;
  static inline std::unique_ptr<ServiceProcess> inventory_;
};

TestDatabase* GatewayAccess::db_ = nullptr;

void expectUnauthorized(const HttpReply& reply, const std::string& what) {
  EXPECT_EQ(reply.status, 401) << what << ": " << reply.body;
  EXPECT_EQ(reply.header("www-authenticate").value_or("").rfind("Bearer", 0), 0u) << what;
  EXPECT_EQ(reply.header("content-type"), "application/json") << what;
  auto body = json::parse(reply.body, nullptr, false);
  EXPECT_EQ(body.value("error", ""), "unauthorized") << what;
}

TEST_F(GatewayAccess, WritesNeedTheBearerTokenAndReadsStayOpen) {
  auto gateway = startGateway({{"API_GATEWAY_TOKEN", kToken}});
  HttpClient client(gateway->port());
  HttpClient(inventory_->port()).request("DELETE", "/api/movies");
  const std::string movie = R"({"title":"Guarded","description":"x"})";
  const std::vector<std::pair<std::string, std::string>> json = {{"Content-Type", "application/json"}};
  auto with = [&](const std::string& authorization) {
    auto headers = json;
    headers.emplace_back("Authorization", authorization);
    return headers;
  };

  expectUnauthorized(client.request("POST", "/api/movies", movie), "POST without a token");
  for (const std::string& wrong :
       std::vector<std::string>{"Bearer wrong", "Bearer " + kToken + "x", "Bearer " + kToken.substr(1),
                                "Basic " + kToken, kToken, "Bearer"}) {
    expectUnauthorized(client.request("POST", "/api/movies", movie, with(wrong)),
                       "POST with '" + wrong + "'");
  }
  EXPECT_EQ(movieCount(), 0) << "no refused write reached inventory-app";

  auto created = client.request("POST", "/api/movies", movie, with("Bearer " + kToken));
  ASSERT_EQ(created.status, 201) << created.body;
  std::string path = "/api/movies/" + std::to_string(json::parse(created.body)["id"].get<int64_t>());

  // Reads are open.
  EXPECT_EQ(client.request("GET", "/api/movies").status, 200);
  EXPECT_EQ(client.request("GET", path).status, 200);
  EXPECT_EQ(client.request("GET", "/api/docs").status, 200);
  EXPECT_EQ(client.request("GET", "/healthz").status, 200);

  // Every other write method too.
  expectUnauthorized(client.request("PUT", path, R"({"title":"Renamed"})"), "PUT without a token");
  expectUnauthorized(client.request("PATCH", path, "{}"), "PATCH without a token");
  expectUnauthorized(client.request("DELETE", path), "DELETE without a token");
  expectUnauthorized(client.request("DELETE", "/api/movies"), "DELETE all without a token");
  expectUnauthorized(
      client.request("POST", "/api/billing", R"({"user_id":"3","number_of_items":"5","total_amount":"180"})"),
      "POST /api/billing without a token");
  EXPECT_EQ(movieCount(), 1);
  EXPECT_EQ(json::parse(client.request("GET", path).body)["title"], "Guarded");

  EXPECT_EQ(client.request("PUT", path, R"({"title":"Renamed"})", with("Bearer " + kToken)).status, 200);
  EXPECT_EQ(client.request("DELETE", path, "", with("bearer " + kToken)).status, 200);
  EXPECT_EQ(movieCount(), 0);
  // With the token the order passes admission and reaches the (unreachable) broker: 503, not 401.
  EXPECT_EQ(
      client
          .request("POST", "/api/billing", R"({"user_id":"3","number_of_items":"5","total_amount":"180"})",
                   with("Bearer " + kToken))
          .status,
      503);
  EXPECT_EQ(gateway->stop(), 0);
  EXPECT_EQ(gateway->output().find(kToken), std::string::npos) << "the token is never logged";
}

TEST_F(GatewayAccess, WithoutATokenWritesAreOpen) {
  auto gateway = startGateway({});
  HttpClient client(gateway->port());
  auto created = client.request("POST", "/api/movies", R"({"title":"Open"})");
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(client.request("DELETE", "/api/movies").status, 200);
}

TEST_F(GatewayAccess, AClientOverItsRateGets429WithRetryAfter) {
  auto gateway = startGateway({{"API_GATEWAY_RATE_LIMIT_RPS", "1"}, {"API_GATEWAY_RATE_LIMIT_BURST", "3"}});
  HttpClient client(gateway->port());
  HttpReply refused;
  int allowed = 0;
  for (int i = 0; i < 20 && refused.status == 0; ++i) {
    auto reply = client.request("GET", "/api/docs");
    if (reply.status == 429) {
      refused = reply;
    } else {
      EXPECT_EQ(reply.status, 200);
      ++allowed;
    }
  }
  ASSERT_EQ(refused.status, 429) << "20 requests at 1/s with a burst of 3 must meet the limit";
  EXPECT_GE(allowed, 3) << "the burst is allowed";
  auto retryAfter = refused.header("retry-after");
  ASSERT_TRUE(retryAfter.has_value());
  EXPECT_GE(std::stoi(*retryAfter), 1);
  EXPECT_EQ(json::parse(refused.body)["error"], "rate_limited");
  // Writes and unknown paths are limited too (a token may refill meanwhile: one in five must be refused);
  // probes and scrapes never are.
  auto refusedOnceIn5 = [&client](const std::string& method, const std::string& path,
                                  const std::string& body) {
    for (int i = 0; i < 5; ++i) {
      if (client.request(method, path, body).status == 429) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(refusedOnceIn5("POST", "/api/movies", R"({"title":"x"})"));
  EXPECT_TRUE(refusedOnceIn5("GET", "/nowhere", ""));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(client.request("GET", "/healthz").status, 200);
    EXPECT_EQ(client.request("GET", "/metrics").status, 200);
  }
  // After waiting as told, the client is served again.
  std::this_thread::sleep_for(std::chrono::seconds(std::stoi(*retryAfter)));
  EXPECT_EQ(client.request("GET", "/api/docs").status, 200);
  EXPECT_EQ(gateway->stop(), 0);
}

TEST_F(GatewayAccess, BadRateLimitSettingsStopTheGatewayAtStart) {
  auto gateway = apiGateway(1, {{"API_GATEWAY_RATE_LIMIT_RPS", "-5"}});
  EXPECT_EQ(gateway->runToExit(), 2);
  EXPECT_NE(gateway->output().find("API_GATEWAY_RATE_LIMIT_RPS"), std::string::npos) << gateway->output();
}

}  // namespace
}  // namespace mp::test
