// The operator's way back for dead-lettered orders (docs/billing.md): once the cause is fixed,
// `billing-app replay-dead-letters` moves what waits in <queue>.dlq back to the queue, and billing-app
// stores each order once (its message_id), however often it was dead-lettered or replayed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "orders/billing_topology.h"
#include "support/broker.h"
#include "support/service_process.h"
#include "support/test_database.h"

namespace mp::test {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<amqp::OutgoingMessage> orders(int count) {
  std::vector<amqp::OutgoingMessage> messages;
  for (int i = 0; i < count; ++i) {
    messages.push_back(
        {R"({"user_id":"dl)" + std::to_string(i) + R"(","number_of_items":1,"total_amount":"2.50"})",
         "replay-" + std::to_string(i)});
  }
  return messages;
}

// Rows in `orders`, or "" before billing-app created the table.
std::string storedOrders(TestDatabase& db) {
  try {
    return db.scalar("SELECT count(*) FROM orders");
  } catch (const std::exception&) {
    return "";
  }
}

TEST(DeadLetterReplay, ReplayedOrdersAreStoredOnceAndPoisonComesBackToTheQueueOnce) {
  const std::string queue = "replay_test_" + std::to_string(getpid());
  const auto topology = amqp::BillingTopology::forQueue(queue);
  deleteBillingTopology(queue);
  TestDatabase db("replay");
  {
    auto connection = connectToTestBroker();
    ASSERT_TRUE(connection);
    ASSERT_TRUE(amqp::declareBillingTopology(*connection, topology).ok());
  }
  // 40 valid orders dead-lettered (say, while the database refused them), one of them twice, and one
  // poison message that nothing can store.
  auto messages = orders(40);
  messages.push_back(messages[3]);
  messages.push_back({R"({"user_id":"x","number_of_items":"none"})", "replay-poison"});
  ASSERT_TRUE(publishAll(topology.deadLetterQueue, messages));

  const EnvironmentOverrides environment = {{"RABBITMQ_URL", requiredEnv("MP_TEST_AMQP_URL")},
                                            {"BILLING_QUEUE", queue},
                                            {"BILLING_DATABASE_URL", db.url()},
                                            {"BILLING_APP_PORT", "0"},
                                            {"BIND_ADDRESS", "127.0.0.1"}};
  const std::string binary = ServiceProcess::binaryFromEnvironment("MP_BILLING_APP");
  ServiceProcess replay(binary, environment, {"replay-dead-letters"});
  ASSERT_EQ(replay.runToExit(std::chrono::seconds(60)), 0) << replay.output();
  const auto line = replay.output().substr(replay.output().rfind("{\"command\""));
  const auto result = nlohmann::json::parse(line.substr(0, line.find('\n')));
  EXPECT_EQ(result["dead_lettered"], 42) << line;
  EXPECT_EQ(result["replayed"], 42) << line;

  ServiceProcess app(binary, environment);
  ASSERT_TRUE(app.start()) << app.output();
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  std::string stored;
  while (Clock::now() < deadline && (stored = storedOrders(db)) != "40") {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(stored, "40");
  EXPECT_EQ(db.scalar("SELECT count(DISTINCT message_id) FROM orders WHERE message_id LIKE 'replay-%'"),
            "40");
  // The poison message was dead-lettered again; a second replay takes it once more and stops.
  while (Clock::now() < deadline && countReady(topology.deadLetterQueue) != 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(countReady(topology.deadLetterQueue), 1);
  EXPECT_EQ(app.stop(), 0);
  ServiceProcess again(binary, environment, {"replay-dead-letters"});
  ASSERT_EQ(again.runToExit(std::chrono::seconds(60)), 0) << again.output();
  EXPECT_NE(again.output().find("\"replayed\":1"), std::string::npos) << again.output();
  EXPECT_EQ(db.scalar("SELECT count(*) FROM orders"), "40");
  deleteBillingTopology(queue);
}

}  // namespace
}  // namespace mp::test
