// PostgreSQL stopped under a running inventory-app: 503 fast, /readyz follows, and recovery without a
// restart of the service once PostgreSQL is back.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/http_client.h"
#include "support/services.h"
#include "support/tcp_proxy.h"
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
  auto app = inventoryApp(db.url());
  ASSERT_TRUE(app->start()) << app->output();
  HttpClient client(app->port(), std::chrono::seconds(5));
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
  EXPECT_EQ(status, 200) << app->output();
  EXPECT_EQ(client.request("GET", "/readyz").status, 200);
  EXPECT_EQ(client.request("POST", "/api/movies", R"({"title":"after"})").status, 201);
  EXPECT_TRUE(app->running());
  EXPECT_EQ(app->stop(), 0);
}

// The delete commits, then its answer is lost on the way back (the connection drops). Repeating the DELETE
// on a fresh connection would find no row and answer 404 for a delete that happened; the honest answer is
// 503 (outcome unknown to the service), and the movie is gone.
TEST(InventoryDatabaseOutage, ADeleteWhoseAnswerWasLostIsNotRetriedInto404) {
  TestDatabase db("inventory_lost_reply");
  TcpProxy proxy(db.port());
  const std::string url = db.urlWithPort(proxy.port());
  // One connection, so the statement is prepared on the connection whose answer the proxy cuts.
  auto app = inventoryApp(url, {{"DB_POOL_SIZE", "1"}});
  ASSERT_TRUE(app->start()) << app->output();
  HttpClient client(app->port(), std::chrono::seconds(10));
  ASSERT_TRUE(waitForStatus(app->port(), "/readyz", 200, std::chrono::seconds(20))) << app->output();
  auto created = client.request("POST", "/api/movies", R"({"title":"doomed"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = std::to_string(json::parse(created.body)["id"].get<int64_t>());
  ASSERT_EQ(client.request("DELETE", "/api/movies/999999999").status, 404);  // prepares the DELETE

  proxy.setMode(TcpProxy::Mode::kCutNextReply);
  auto reply = client.request("DELETE", "/api/movies/" + id);
  EXPECT_EQ(proxy.repliesCut(), 1);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM movies WHERE id = " + id), "0") << "the delete did not commit";
  EXPECT_NE(reply.status, 404) << "a delete that happened was answered 404: " << reply.body;
  EXPECT_EQ(reply.status, 503) << reply.body;
  // A client that retries learns the movie is gone.
  EXPECT_EQ(client.request("DELETE", "/api/movies/" + id).status, 404);
  EXPECT_EQ(app->stop(), 0);
}

}  // namespace
}  // namespace mp::test
