// POST /api/billing through a real api-gateway to the real RabbitMQ: confirmed publishes, validation,
// concurrent requests, and the broker going away and coming back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/amqp_consumer.h"
#include "support/broker.h"
#include "support/http_client.h"
#include "support/service_process.h"
#include "support/test_database.h"

namespace mp::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kQueue = "gateway_test_" + std::to_string(getpid());

// Takes every message off the queue (acknowledging each) until none arrives for a second. Counting by
// consuming, because a quorum queue's declare-ok message count lags behind acks.
std::vector<amqp::Delivery> drainAll() {
  std::vector<amqp::Delivery> deliveries;
  auto connection = connectToTestBroker();
  if (!connection) {
    return deliveries;
  }
  amqp::Consumer consumer(*connection);
  EXPECT_TRUE(consumer.start(kQueue, 500).isOk());
  auto deadline = Clock::now() + std::chrono::seconds(20);
  auto lastArrival = Clock::now();
  while (Clock::now() < deadline && Clock::now() - lastArrival < std::chrono::seconds(1)) {
    amqp::Delivery delivery;
    bool received = false;
    if (!consumer.next(std::chrono::milliseconds(100), &delivery, &received).isOk()) {
      ADD_FAILURE() << "consuming from " << kQueue << " failed";
      break;
    }
    if (received) {
      EXPECT_TRUE(consumer.ack(delivery.tag, false).isOk());
      deliveries.push_back(std::move(delivery));
      lastArrival = Clock::now();
    }
  }
  return deliveries;
}

class GatewayBilling : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gateway_ = new ServiceProcess(ServiceProcess::binaryFromEnvironment("MP_API_GATEWAY"),
                                  {{"INVENTORY_APP_URL", "http://127.0.0.1:1"},
                                   {"API_GATEWAY_PORT", "0"},
                                   {"BIND_ADDRESS", "127.0.0.1"},
                                   {"ACCESS_LOG", "off"},
                                   {"RABBITMQ_URL", requiredEnv("MP_TEST_AMQP_URL")},
                                   {"BILLING_QUEUE", kQueue}});
    ASSERT_TRUE(gateway_->start()) << gateway_->output();
    ASSERT_TRUE(gateway_->waitForOutput("broker_connected", std::chrono::seconds(20))) << gateway_->output();
  }
  static void TearDownTestSuite() {
    if (gateway_) {
      EXPECT_EQ(gateway_->stop(), 0);
    }
    delete gateway_;
    deleteBillingTopology(kQueue);
  }
  void SetUp() override { drainAll(); }

  static ServiceProcess* gateway_;
};

ServiceProcess* GatewayBilling::gateway_ = nullptr;

TEST_F(GatewayBilling, AValidOrderIsConfirmedAndQueuedPersistentWithAMessageId) {
  HttpClient client(gateway_->port());
  auto reply = client.request("POST", "/api/billing/",
                              R"({"user_id":"20","number_of_items":"99","total_amount":"250"})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(json::parse(reply.body), json({{"message", "Message posted"}}));
  auto numbers =
      client.request("POST", "/api/billing", R"({"user_id":7,"number_of_items":2,"total_amount":19.99})");
  ASSERT_EQ(numbers.status, 200) << numbers.body;
  auto deliveries = drainAll();
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(json::parse(deliveries[0].body)["user_id"], "20");
  ASSERT_TRUE(deliveries[0].messageId);
  ASSERT_TRUE(deliveries[1].messageId);
  EXPECT_EQ(deliveries[0].messageId->size(), 36u);
  EXPECT_NE(*deliveries[0].messageId, *deliveries[1].messageId);
}

TEST_F(GatewayBilling, InvalidOrdersAre400AndNeverQueued) {
  struct Case {
    std::string body;
    std::string contentType;
    int status;
  } cases[] = {
      {R"({"user_id":"3","number_of_items":"0","total_amount":"180"})", "application/json", 400},
      {R"({"user_id":"3","number_of_items":"abc","total_amount":"180"})", "application/json", 400},
      {R"({"user_id":"3","number_of_items":"5","total_amount":"-1"})", "application/json", 400},
      {R"({"user_id":"3","number_of_items":"5","total_amount":"1.234"})", "application/json", 400},
      {R"({"user_id":"","number_of_items":"5","total_amount":"1"})", "application/json", 400},
      {R"({"number_of_items":"5","total_amount":"1"})", "application/json", 400},
      {R"([1,2,3])", "application/json", 400},
      {R"({"user_id":)", "application/json", 400},
      {R"({"user_id":"3","number_of_items":"5","total_amount":"180"})", "text/plain", 415},
  };
  HttpClient client(gateway_->port());
  for (const auto& c : cases) {
    auto reply = client.request("POST", "/api/billing", c.body, {{"Content-Type", c.contentType}});
    EXPECT_EQ(reply.status, c.status) << c.body << " " << reply.body;
    auto body = json::parse(reply.body);
    EXPECT_TRUE(body["error"].is_string() && body["message"].is_string()) << reply.body;
  }
  EXPECT_EQ(drainAll().size(), 0u);
  EXPECT_EQ(client.request("GET", "/api/billing").status, 405);
}

TEST_F(GatewayBilling, ConcurrentOrdersAreEachConfirmedOnce) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 25;
  std::vector<std::future<int>> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.push_back(std::async(std::launch::async, [this, t] {
      HttpClient client(gateway_->port());
      int ok = 0;
      for (int i = 0; i < kPerThread; ++i) {
        auto body =
            json{{"user_id", std::to_string(t)}, {"number_of_items", i + 1}, {"total_amount", "1.50"}}.dump();
        ok += client.request("POST", "/api/billing", body).status == 200;
      }
      return ok;
    }));
  }
  int ok = 0;
  for (auto& worker : workers) {
    ok += worker.get();
  }
  EXPECT_EQ(ok, kThreads * kPerThread);
  auto deliveries = drainAll();
  EXPECT_EQ(deliveries.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> ids;
  for (const auto& delivery : deliveries) {
    if (!ids.insert(delivery.messageId.value_or("")).second) {
      ADD_FAILURE() << "duplicate id " << delivery.messageId.value_or("<none>") << " body " << delivery.body;
    }
  }
  EXPECT_EQ(ids.size(), deliveries.size()) << "every message has its own id";
}

// A client that retries a post (e.g. after a 503 whose outcome it cannot know) sends the same
// Idempotency-Key: every publish of it carries the same message_id, so billing-app stores it once.
TEST_F(GatewayBilling, AnIdempotencyKeyIsTheMessageIdOfEveryRetry) {
  HttpClient client(gateway_->port());
  const std::string body = R"({"user_id":"42","number_of_items":"1","total_amount":"9.99"})";
  const std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"},
                                                                    {"Idempotency-Key", "order-42.a_1"}};
  ASSERT_EQ(client.request("POST", "/api/billing", body, headers).status, 200);
  ASSERT_EQ(client.request("POST", "/api/billing", body, headers).status, 200);
  auto deliveries = drainAll();
  ASSERT_EQ(deliveries.size(), 2u);
  for (const auto& delivery : deliveries) {
    EXPECT_EQ(delivery.messageId.value_or(""), "key:order-42.a_1");
  }
  for (const std::string& key :
       {std::string("has space"), std::string(201, 'k'), std::string("caf\xc3\xa9")}) {
    auto reply = client.request("POST", "/api/billing", body,
                                {{"Content-Type", "application/json"}, {"Idempotency-Key", key}});
    EXPECT_EQ(reply.status, 400) << key;
    EXPECT_EQ(json::parse(reply.body)["error"], "invalid_idempotency_key") << reply.body;
  }
  EXPECT_EQ(drainAll().size(), 0u);
}

// Last: it stops the broker.
TEST_F(GatewayBilling, BrokerDownIs503FastAndPublishingResumesWhenItIsBack) {
  ASSERT_TRUE(brokerControl("stop"));
  HttpClient client(gateway_->port());
  auto order = R"({"user_id":"22","number_of_items":"10","total_amount":"50"})";
  auto deadline = Clock::now() + std::chrono::seconds(15);
  int status = 0;
  // The gateway notices the closed connection; from then on every post is a fast 503.
  while (Clock::now() < deadline && (status = client.request("POST", "/api/billing", order).status) == 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 503);
  for (int i = 0; i < 3; ++i) {
    auto started = Clock::now();
    auto reply = client.request("POST", "/api/billing", order);
    EXPECT_EQ(reply.status, 503);
    EXPECT_EQ(json::parse(reply.body)["error"], "broker_unavailable");
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(2));
  }
  EXPECT_EQ(client.request("GET", "/readyz").status, 503);

  ASSERT_TRUE(brokerControl("start"));
  deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline && (status = client.request("POST", "/api/billing", order).status) != 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(status, 200) << gateway_->output();
  EXPECT_EQ(drainAll().size(), 1u) << "only the one confirmed order; none of the refused ones";
}

}  // namespace
}  // namespace mp::test
