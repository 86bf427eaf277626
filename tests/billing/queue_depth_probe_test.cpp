// QueueDepthProbe against the real broker scripts/test starts: the ready counts of the billing queue and
// its dead-letter queue with no consumer attached, and an absent series when the broker cannot answer.
#include "billing/queue_depth_probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "common/amqp_consumer.h"
#include "orders/billing_topology.h"
#include "support/broker.h"

namespace mp::billing {
namespace {

using std::chrono::seconds;

// The sample value of `series` (name{labels}) in the exposition, or -1 when it is absent.
double sampleOf(const std::string& exposition, const std::string& series) {
  const std::string prefix = "\n" + series + " ";
  const auto at = ("\n" + exposition).find(prefix);
  if (at == std::string::npos) {
    return -1;
  }
  return std::stod(exposition.substr(at + prefix.size() - 1));
}

std::vector<amqp::OutgoingMessage> orders(int count) {
  std::vector<amqp::OutgoingMessage> messages;
  for (int i = 0; i < count; ++i) {
    messages.push_back(
        {R"({"user_id":"7","number_of_items":"1","total_amount":"2"})", "depth-" + std::to_string(i)});
  }
  return messages;
}

class QueueDepthProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    queue_ = "queue_depth_test_" + std::to_string(getpid());
    test::deleteBillingTopology(queue_);
    std::unique_ptr<amqp::Connection> connection = test::connectToTestBroker();
    ASSERT_TRUE(connection);
    amqp::Status status = amqp::declareBillingTopology(*connection, amqp::BillingTopology::forQueue(queue_));
    ASSERT_TRUE(status.ok()) << status.message();
    ASSERT_TRUE(amqp::parseUrl(test::requiredEnv("MP_TEST_AMQP_URL"), &broker_).ok());
  }
  void TearDown() override { test::deleteBillingTopology(queue_); }

  // Samples every 500 ms until the series reads `expected` or `timeout` passes; returns the last reading.
  double waitForSample(QueueDepthProbe& probe, const std::string& series, double expected,
                       std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    double value = -1;
    while (true) {
      probe.sampleOnce();
      value = sampleOf(metrics_.render(), series);
      if (value == expected || std::chrono::steady_clock::now() > deadline) {
        return value;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }

  std::string series(const std::string& queue, const std::string& state) {
    return "billing_queue_messages{queue=\"" + queue + "\",state=\"" + state + "\"}";
  }

  std::string queue_;
  amqp::ConnectionSettings broker_;
  ServiceMetrics metrics_{"billing-app"};
};

TEST_F(QueueDepthProbeTest, ReadyCountsFollowTheBrokerWithNoConsumer) {
  QueueDepthProbe probe(broker_, queue_, metrics_);
  ASSERT_TRUE(probe.sampleOnce().ok());
  EXPECT_EQ(sampleOf(metrics_.render(), series(queue_, "ready")), 0);
  EXPECT_EQ(sampleOf(metrics_.render(), series(queue_ + ".dlq", "ready")), 0);
  EXPECT_EQ(sampleOf(metrics_.render(), series(queue_, "unacked")), 0);

  // A quorum queue's passive declare may report its count late: poll, as Prometheus does.
  constexpr int kPublished = 40;
  ASSERT_TRUE(test::publishAll(queue_, orders(kPublished)));
  EXPECT_EQ(waitForSample(probe, series(queue_, "ready"), kPublished, seconds(30)), kPublished);

  ASSERT_TRUE(test::publishAll(queue_ + ".dlq", orders(3)));
  EXPECT_EQ(waitForSample(probe, series(queue_ + ".dlq", "ready"), 3, seconds(30)), 3);
}

// ready counts what waits in the queue: deliveries a consumer holds unacknowledged are not in it.
TEST_F(QueueDepthProbeTest, ReadyExcludesDeliveriesHeldByAConsumer) {
  QueueDepthProbe probe(broker_, queue_, metrics_);
  ASSERT_TRUE(test::publishAll(queue_, orders(30)));
  ASSERT_EQ(waitForSample(probe, series(queue_, "ready"), 30, seconds(30)), 30);

  std::unique_ptr<amqp::Connection> connection = test::connectToTestBroker();
  ASSERT_TRUE(connection);
  amqp::Consumer consumer(*connection);
  ASSERT_TRUE(consumer.start(queue_, 10).ok());
  amqp::Delivery delivery;
  for (int i = 0; i < 10; ++i) {
    bool received = false;
    ASSERT_TRUE(consumer.next(std::chrono::milliseconds(5000), &delivery, &received).ok());
    ASSERT_TRUE(received);
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(waitForSample(probe, series(queue_, "ready"), 20, seconds(30)), 20);
  const auto lag =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  std::cout << "ready reflected 10 unacknowledged deliveries after " << lag.count() << " ms\n";
  // Acknowledging frees the prefetch: the broker pushes the next 10 at once (into the socket, unread),
  // and ready counts them out as well.
  ASSERT_TRUE(consumer.ack(delivery.tag, true).ok());
  EXPECT_EQ(waitForSample(probe, series(queue_, "ready"), 10, seconds(30)), 10);
}

TEST_F(QueueDepthProbeTest, SeriesIsAbsentWhileTheQueueCannotBeRead) {
  QueueDepthProbe probe(broker_, queue_, metrics_);
  ASSERT_TRUE(probe.sampleOnce().ok());
  ASSERT_EQ(sampleOf(metrics_.render(), series(queue_, "ready")), 0);
  test::deleteBillingTopology(queue_);
  EXPECT_FALSE(probe.sampleOnce().ok());
  EXPECT_EQ(sampleOf(metrics_.render(), series(queue_, "ready")), -1) << metrics_.render();
  EXPECT_EQ(sampleOf(metrics_.render(), series(queue_ + ".dlq", "ready")), -1);

  amqp::ConnectionSettings nowhere = broker_;
  nowhere.port = 1;  // nothing listens there
  nowhere.timeout = std::chrono::milliseconds(500);
  ServiceMetrics other("billing-app");
  QueueDepthProbe unreachable(nowhere, queue_, other);
  EXPECT_FALSE(unreachable.sampleOnce().ok());
  EXPECT_EQ(sampleOf(other.render(), series(queue_, "ready")), -1);
}

TEST_F(QueueDepthProbeTest, ThreadSamplesOnItsOwnAndStops) {
  QueueDepthProbe probe(broker_, queue_, metrics_, std::chrono::milliseconds(200));
  probe.start();
  ASSERT_TRUE(test::publishAll(queue_, orders(5)));
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (sampleOf(metrics_.render(), series(queue_, "ready")) != 5 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(sampleOf(metrics_.render(), series(queue_, "ready")), 5);
  probe.stop();
}

}  // namespace
}  // namespace mp::billing
