// PostgreSQL stopped under a running inventory-app: 503 fast, /readyz follows, and recovery without a
// restart of the service once PostgreSQL is back.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_client.h"
#include "support/service_process.h"
#include "support/test_database.h"

namespace mp::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

void controlPostgres(const std::string& action) {
  const char* script = std::getenv("MP_TEST_PG_CTL");
  ASSERT_NE(script, nullptr) << "MP_TEST_PG_CTL is set by scripts/test";
  ASSERT_EQ(std::system((std::string(script) + " " + action).c_str()), 0) << action;
}

TEST(InventoryDatabaseOutage, Gives503WithinTwoSecondsAndRecoversByItself) {
  TestDatabase db("inventory_outage");
  ServiceProcess app(
      ServiceProcess::binaryFromEnvironment("MP_INVENTORY_APP"),
      {{"INVENTORY_DATABASE_URL", db.url()}, {"INVENTORY_APP_PORT", "0"}, {"BIND_ADDRESS", "127.0.0.1"}});
  ASSERT_TRUE(app.start()) << app.output();
  HttpClient client(app.port(), std::chrono::seconds(5));
  auto deadline = Clock::now() + std::chrono::seconds(20);
  while (client.request("GET", "/readyz").status != 200 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto created = client.request("POST", "/api/movies", R"({"title":"survivor"})");
  ASSERT_EQ(created.status, 201);
  std::string path = *created.header("location");

  controlPostgres("stop");
  for (const auto& [method, body] : std::vector<std::pair<std::string, std::string>>{
           {"GET", ""}, {"POST", R"({"title":"lost?"})"}, {"GET", ""}}) {
    auto started = Clock::now();
    auto reply = client.request(method, method == "GET" ? path : "/api/movies", body);
    auto elapsed = Clock::now() - started;
    EXPECT_EQ(reply.status, 503) << method << " " << reply.body;
    EXPECT_EQ(json::parse(reply.body)["error"], "database_unavailable");
    EXPECT_LT(elapsed, std::chrono::seconds(2)) << method;
  }
  EXPECT_EQ(client.request("GET", "/readyz").status, 503);
  EXPECT_EQ(client.request("GET", "/healthz").status, 200) << "alive even without its database";

  controlPostgres("start");
  int status = 0;
  deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    status = client.request("GET", path).status;
    if (status == 200) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 200) << app.output();
  EXPECT_EQ(client.request("GET", "/readyz").status, 200);
  EXPECT_EQ(client.request("POST", "/api/movies", R"({"title":"after"})").status, 201);
  EXPECT_TRUE(app.running());
  EXPECT_EQ(app.stop(), 0);
}

}  // namespace
}  // namespace mp::test
