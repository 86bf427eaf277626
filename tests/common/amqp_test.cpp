// The AMQP wrapper against the real RabbitMQ that scripts/test started: URL parsing, connect failures,
// idempotent topology, confirmed publishing, prefetch + manual acks, dead-lettering and the delivery limit.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <map>
#include <set>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/amqp_consumer.h"
#include "common/amqp_publisher.h"
#include "orders/billing_topology.h"
#include "support/broker.h"

namespace mp::amqp {
namespace {

using std::chrono::milliseconds;

// A loopback port nothing listens on: bound to port 0 for a moment, then released.
int unusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

class AmqpBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    queue_ = "amqp_test_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name();
    test::deleteBillingTopology(queue_);
    connection_ = test::connectToTestBroker();
    ASSERT_TRUE(connection_);
    Status status = declareBillingTopology(*connection_, BillingTopology::forQueue(queue_));
    ASSERT_TRUE(status.ok()) << status.message();
  }
  void TearDown() override {
    connection_.reset();
    test::deleteBillingTopology(queue_);
  }

  std::vector<OutgoingMessage> numbered(int count) {
    std::vector<OutgoingMessage> messages;
    for (int i = 0; i < count; ++i) {
      messages.push_back({"{\"n\":" + std::to_string(i) + "}", "id-" + std::to_string(i)});
    }
    return messages;
  }

  // Consumes until `count` deliveries arrived or `patience` passed.
  std::vector<Delivery> take(Consumer& consumer, std::size_t count,
                             milliseconds patience = milliseconds(10000)) {
    std::vector<Delivery> deliveries;
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (deliveries.size() < count && std::chrono::steady_clock::now() < deadline) {
      Delivery delivery;
      bool received = false;
      Status status = consumer.next(milliseconds(200), &delivery, &received);
      EXPECT_TRUE(status.ok()) << status.message();
      if (!status.ok()) {
        break;
      }
      if (received) {
        deliveries.push_back(delivery);
      }
    }
    return deliveries;
  }

  // Ready messages in `queue` once they reach `expected` (at most 5 s): the broker requeues and
  // dead-letters asynchronously after a connection closes.
  long readyEventually(const std::string& queue, long expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    long count = test::countReady(queue);
    while (count != expected && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
      count = test::countReady(queue);
    }
    return count;
  }

  // Publishes `count` numbered messages, starts `consumer` with `prefetch` and takes all of them.
  std::vector<Delivery> publishAndTake(Consumer& consumer, int count, uint16_t prefetch) {
    EXPECT_TRUE(test::publishAll(queue_, numbered(count)));
    EXPECT_TRUE(consumer.start(queue_, prefetch).ok());
    std::vector<Delivery> got = take(consumer, static_cast<std::size_t>(count));
    EXPECT_EQ(got.size(), static_cast<std::size_t>(count));
    return got;
  }

  std::string queue_;
  std::unique_ptr<Connection> connection_;
};

TEST(AmqpUrl, ParsesUserPasswordHostPortAndVhost) {
  ConnectionSettings settings;
  ASSERT_TRUE(parseUrl("amqp://billing:s3cret@mq.example:5673/%2f", &settings).ok());
  EXPECT_EQ(settings.host, "mq.example");
  EXPECT_EQ(settings.port, 5673);
  EXPECT_EQ(settings.user, "billing");
  EXPECT_EQ(settings.password, "s3cret");
  EXPECT_EQ(settings.vhost, "/");
}

TEST(AmqpUrl, DefaultsPortAndRejectsOtherSchemes) {
  ConnectionSettings settings;
  ASSERT_TRUE(parseUrl("amqp://u:p@localhost/orders", &settings).ok());
  EXPECT_EQ(settings.port, 5672);
  EXPECT_EQ(settings.vhost, "orders");
  EXPECT_FALSE(parseUrl("http://localhost:5672/", &settings).ok());
  EXPECT_FALSE(parseUrl("amqp://u:p@:notaport/", &settings).ok());
  EXPECT_FALSE(parseUrl("", &settings).ok());
}

TEST(AmqpConnect, RefusedPortIsAnErrorValue) {
  ConnectionSettings settings;
  settings.host = "127.0.0.1";
  settings.port = unusedPort();
  std::unique_ptr<Connection> connection;
  Status status = Connection::open(settings, &connection);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot connect"), std::string::npos) << status.message();
  EXPECT_FALSE(connection);
}

TEST(AmqpConnect, WrongPasswordIsAnErrorValue) {
  ConnectionSettings settings;
  ASSERT_TRUE(parseUrl(test::requiredEnv("MP_TEST_AMQP_URL"), &settings).ok());
  settings.password += "-wrong";
  std::unique_ptr<Connection> connection;
  Status status = Connection::open(settings, &connection);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("login"), std::string::npos) << status.message();
}

TEST(AmqpConnect, RetryLoopEndsWhenStopped) {
  ConnectionSettings settings;
  settings.host = "127.0.0.1";
  settings.port = unusedPort();
  std::atomic<bool> stop{false};
  int failures = 0;
  const auto started = std::chrono::steady_clock::now();
  std::unique_ptr<Connection> connection = Connection::openWithRetry(settings, stop, [&](const Status&) {
    if (++failures == 4) {
      stop = true;
    }
  });
  EXPECT_FALSE(connection);
  EXPECT_EQ(failures, 4);
  // Backoff 100 + 200 + 400 ms between the four attempts, cut short by the stop.
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(650));
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(3000));
}

TEST_F(AmqpBrokerTest, TopologyDeclarationIsIdempotent) {
  for (int i = 0; i < 3; ++i) {
    Status status = declareBillingTopology(*connection_, BillingTopology::forQueue(queue_));
    ASSERT_TRUE(status.ok()) << status.message();
  }
  uint32_t count = 99;
  ASSERT_TRUE(countMessages(*connection_, queue_ + ".dlq", &count).ok());
  EXPECT_EQ(count, 0u);
}

TEST_F(AmqpBrokerTest, ConfirmedPublishThenPrefetchedConsumeWithMultipleAck) {
  ASSERT_TRUE(test::publishAll(queue_, numbered(3000)));
  EXPECT_EQ(readyEventually(queue_, 3000), 3000);

  Consumer consumer(*connection_);
  ASSERT_TRUE(consumer.start(queue_, 100).ok());
  std::vector<Delivery> first = take(consumer, 100);
  ASSERT_EQ(first.size(), 100u);
  // Prefetch holds the broker back: nothing beyond 100 arrives before an ack.
  Delivery extra;
  bool received = true;
  ASSERT_TRUE(consumer.next(milliseconds(300), &extra, &received).ok());
  EXPECT_FALSE(received);
  EXPECT_EQ(first.front().messageId.value_or(""), "id-0");
  EXPECT_EQ(first.back().body, "{\"n\":99}");

  ASSERT_TRUE(consumer.ack(first.back().tag, true).ok());
  std::size_t total = first.size();
  while (total < 3000) {
    std::vector<Delivery> batch = take(consumer, 100);
    ASSERT_FALSE(batch.empty());
    total += batch.size();
    ASSERT_TRUE(consumer.ack(batch.back().tag, true).ok());
  }
  EXPECT_EQ(total, 3000u);
  connection_.reset();
  EXPECT_EQ(readyEventually(queue_, 0), 0);
}

TEST_F(AmqpBrokerTest, NackWithRequeueRedeliversAndUnackedReturnOnClose) {
  {
    Consumer consumer(*connection_);
    std::vector<Delivery> got = publishAndTake(consumer, 10, 10);
    ASSERT_EQ(got.size(), 10u);
    ASSERT_TRUE(consumer.nack(got[4].tag, true, true).ok());  // 0..4 back to the queue
    std::vector<Delivery> again = take(consumer, 5);
    ASSERT_EQ(again.size(), 5u);
    EXPECT_TRUE(again.front().redelivered);
  }
  connection_.reset();  // 10 unacked: all return to the queue
  EXPECT_EQ(readyEventually(queue_, 10), 10);
}

TEST_F(AmqpBrokerTest, RejectWithoutRequeueDeadLetters) {
  Consumer consumer(*connection_);
  std::vector<Delivery> got = publishAndTake(consumer, 3, 10);
  ASSERT_EQ(got.size(), 3u);
  ASSERT_TRUE(consumer.reject(got[1].tag, false).ok());
  ASSERT_TRUE(consumer.ack(got[2].tag, true).ok());
  connection_.reset();
  EXPECT_EQ(readyEventually(queue_, 0), 0);
  EXPECT_EQ(readyEventually(queue_ + ".dlq", 1), 1);
}

TEST_F(AmqpBrokerTest, DeliveryLimitDeadLettersAMessageThatKeepsComingBack) {
  ASSERT_TRUE(test::publishAll(queue_, numbered(1)));
  Consumer consumer(*connection_);
  ASSERT_TRUE(consumer.start(queue_, 1).ok());
  int deliveries = 0;
  for (int i = 0; i < kDeliveryLimit + 5; ++i) {
    std::vector<Delivery> got = take(consumer, 1, milliseconds(1500));
    if (got.empty()) {
      break;
    }
    ++deliveries;
    ASSERT_TRUE(consumer.nack(got[0].tag, false, true).ok());
  }
  connection_.reset();
  // The limit lets a message be returned kDeliveryLimit times; the next return dead-letters it.
  EXPECT_EQ(deliveries, kDeliveryLimit + 1);
  EXPECT_EQ(readyEventually(queue_, 0), 0);
  EXPECT_EQ(readyEventually(queue_ + ".dlq", 1), 1);
}

TEST_F(AmqpBrokerTest, UnroutablePublishIsReportedNotLost) {
  Publisher publisher(*connection_);
  ASSERT_TRUE(publisher.enableConfirms().ok());
  Status status = publisher.publish("", queue_ + "-missing", numbered(2));
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(amqp::connectionLost(status)) << status.message();
  EXPECT_NE(status.message().find("2 unroutable"), std::string::npos) << status.message();
  // The channel stays usable after a return.
  EXPECT_TRUE(publisher.publish("", queue_, numbered(1)).ok());
}

TEST_F(AmqpBrokerTest, PipelinedPublishesAreSettledOneByOneAndAReturnFailsOnlyItsOwn) {
  Publisher publisher(*connection_);
  ASSERT_TRUE(publisher.enableConfirms().ok());
  auto messages = numbered(3);
  uint64_t routed1 = 0, unroutable = 0, routed2 = 0;
  ASSERT_TRUE(publisher.publishAsync("", queue_, messages[0], &routed1).ok());
  ASSERT_TRUE(publisher.publishAsync("", queue_ + "-missing", messages[1], &unroutable).ok());
  ASSERT_TRUE(publisher.publishAsync("", queue_, messages[2], &routed2).ok());
  std::map<uint64_t, bool> settled;
  for (int turn = 0; turn < 100 && settled.size() < 3; ++turn) {
    std::vector<std::pair<uint64_t, bool>> batch;
    Status status = publisher.collectConfirms(std::chrono::milliseconds(50), &batch);
    ASSERT_TRUE(status.ok()) << status.message();
    for (const auto& [tag, taken] : batch) {
      EXPECT_TRUE(settled.emplace(tag, taken).second) << "tag " << tag << " settled twice";
    }
  }
  ASSERT_EQ(settled.size(), 3u);
  EXPECT_TRUE(settled[routed1]);
  EXPECT_FALSE(settled[unroutable]);
  EXPECT_TRUE(settled[routed2]);
}

// The gateway's path: many publishes in flight, some unroutable. The broker sends each basic.return at
// at once and acks a quorum queue's confirms together with later ones, so returns and acks interleave
// (a return, then one ack `multiple` over routed and returned tags alike); each return must fail exactly its
// own message, found by its message_id, and every message reported taken must be in the queue.
TEST_F(AmqpBrokerTest, PipelinedReturnsInterleavedAmongAcksFailExactlyTheirOwnMessages) {
  Publisher publisher(*connection_);
  ASSERT_TRUE(publisher.enableConfirms().ok());
  constexpr int kRounds = 5;
  constexpr int kPerRound = 60;
  std::map<uint64_t, bool> routed;  // tag -> sent to the real queue
  std::map<uint64_t, std::string> ids;
  int routedCount = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kPerRound; ++i) {
      const int n = round * kPerRound + i;
      // Irregular pattern: runs of returns and of routed messages of different lengths.
      const bool toQueue = (n * 7 % 11) < 6;
      OutgoingMessage message{"{\"n\":" + std::to_string(n) + "}", "id-" + std::to_string(n)};
      uint64_t tag = 0;
      ASSERT_TRUE(publisher.publishAsync("", toQueue ? queue_ : queue_ + "-missing", message, &tag).ok());
      routed[tag] = toQueue;
      ids[tag] = message.messageId;
      routedCount += toQueue;
      // Pauses of 0 to 3 ms let some confirms of the quorum queue reach the channel between publishes:
      // the broker then acks them together with the next return's message (one ack, `multiple`).
      std::this_thread::sleep_for(std::chrono::microseconds(1000 * (n % 4)));
    }
  }
  std::map<uint64_t, bool> settled;
  for (int turn = 0; turn < 500 && settled.size() < routed.size(); ++turn) {
    std::vector<std::pair<uint64_t, bool>> batch;
    Status status = publisher.collectConfirms(std::chrono::milliseconds(20), &batch);
    ASSERT_TRUE(status.ok()) << status.message();
    for (const auto& [tag, taken] : batch) {
      EXPECT_TRUE(settled.emplace(tag, taken).second) << "tag " << tag << " settled twice";
    }
  }
  ASSERT_EQ(settled.size(), routed.size());
  int wrong = 0;
  for (const auto& [tag, toQueue] : routed) {
    if (settled[tag] != toQueue) {
      ++wrong;
      ADD_FAILURE() << ids[tag]
                    << (toQueue ? " was routed but reported failed" : " was returned but reported taken");
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(readyEventually(queue_, routedCount), routedCount);
}

// Declares `name` durable with `arguments`; the outcome as a Status (a 406 leaves the connection usable).
Status declareWith(Connection& connection, const std::string& name, amqp_table_t arguments) {
  amqp_queue_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(name.c_str()), false, true,
                     false, false, arguments);
  return connection.checkRecovering(amqp_get_rpc_reply(connection.state()), 406, "queue.declare");
}

// The topology the version before issue 15 declared: at-most-once dead-lettering into a classic queue.
void declarePreviousTopology(Connection& connection, const BillingTopology& topology) {
  amqp_exchange_declare(connection.state(), Connection::kChannel,
                        amqp_cstring_bytes(topology.deadLetterExchange.c_str()), amqp_cstring_bytes("direct"),
                        false, true, false, false, amqp_empty_table);
  ASSERT_TRUE(connection.check(amqp_get_rpc_reply(connection.state()), "exchange.declare").ok());
  ASSERT_TRUE(declareWith(connection, topology.deadLetterQueue, amqp_empty_table).ok());
  amqp_queue_bind(connection.state(), Connection::kChannel,
                  amqp_cstring_bytes(topology.deadLetterQueue.c_str()),
                  amqp_cstring_bytes(topology.deadLetterExchange.c_str()),
                  amqp_cstring_bytes(topology.deadLetterQueue.c_str()), amqp_empty_table);
  ASSERT_TRUE(connection.check(amqp_get_rpc_reply(connection.state()), "queue.bind").ok());
  amqp_table_entry_t entries[] = {textEntry("x-queue-type", "quorum"),
                                  textEntry("x-dead-letter-exchange", topology.deadLetterExchange.c_str()),
                                  textEntry("x-dead-letter-routing-key", topology.deadLetterQueue.c_str()),
                                  intEntry("x-delivery-limit", kDeliveryLimit)};
  ASSERT_TRUE(declareWith(connection, topology.queue, amqp_table_t{4, entries}).ok());
}

// Queue arguments are checked on every redeclare, so the declared topology is what the broker holds:
// the dead-letter queue is a quorum queue (a classic declaration of it is refused) and the billing queue
// dead-letters at least once with reject-publish (a declaration without them is refused).
TEST_F(AmqpBrokerTest, DeadLettersGoAtLeastOnceIntoAQuorumQueue) {
  const BillingTopology topology = BillingTopology::forQueue(queue_);
  Status classic = declareWith(*connection_, topology.deadLetterQueue, amqp_empty_table);
  EXPECT_FALSE(classic.ok());
  EXPECT_NE(classic.message().find("x-queue-type"), std::string::npos) << classic.message();
  amqp_table_entry_t atMostOnce[] = {textEntry("x-queue-type", "quorum"),
                                     textEntry("x-dead-letter-exchange", topology.deadLetterExchange.c_str()),
                                     textEntry("x-dead-letter-routing-key", topology.deadLetterQueue.c_str()),
                                     textEntry("x-dead-letter-strategy", "at-most-once")};
  Status strategy = declareWith(*connection_, topology.queue, amqp_table_t{4, atMostOnce});
  EXPECT_FALSE(strategy.ok());
  EXPECT_NE(strategy.message().find("PRECONDITION_FAILED"), std::string::npos) << strategy.message();
  // And a rejected message still arrives in the dead-letter queue (now through the at-least-once worker).
  Consumer consumer(*connection_);
  std::vector<Delivery> got = publishAndTake(consumer, 1, 10);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(consumer.reject(got[0].tag, false).ok());
  EXPECT_EQ(readyEventually(topology.deadLetterQueue, 1), 1);
}

// An upgrade meets the queues of the earlier version, whose arguments a redeclare cannot change: the
// services go on with them (with a warning), and migrateBillingTopology() brings them to the current
// arguments without losing a message.
TEST_F(AmqpBrokerTest, AnEarlierVersionsQueuesAreUsedThenMigratedKeepingTheirMessages) {
  const BillingTopology topology = BillingTopology::forQueue(queue_);
  connection_.reset();
  test::deleteBillingTopology(queue_);
  connection_ = test::connectToTestBroker();
  ASSERT_TRUE(connection_);
  declarePreviousTopology(*connection_, topology);
  ASSERT_TRUE(test::publishAll(topology.queue, numbered(30)));
  ASSERT_TRUE(test::publishAll(topology.deadLetterQueue, numbered(4)));
  Status status = declareBillingTopology(*connection_, topology);
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_FALSE(connection_->lost());

  ConnectionSettings settings;
  ASSERT_TRUE(parseUrl(test::requiredEnv("MP_TEST_AMQP_URL"), &settings).ok());
  MigrationReport report;
  status = migrateBillingTopology(settings, topology, &report);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(report.migrated, (std::vector<std::string>{topology.deadLetterQueue, topology.queue}));
  EXPECT_EQ(report.moved, 34u);
  EXPECT_EQ(readyEventually(topology.queue, 30), 30);
  EXPECT_EQ(readyEventually(topology.deadLetterQueue, 4), 4);
  EXPECT_FALSE(declareWith(*connection_, topology.deadLetterQueue, amqp_empty_table).ok())
      << "the dead-letter queue is a quorum queue now";
  // Run again: nothing left to do.
  MigrationReport again;
  ASSERT_TRUE(migrateBillingTopology(settings, topology, &again).ok());
  EXPECT_TRUE(again.migrated.empty());
  // A consumer attached (billing-app still running): the queue is not deleted under it.
  connection_.reset();
  test::deleteBillingTopology(queue_);
  connection_ = test::connectToTestBroker();
  ASSERT_TRUE(connection_);
  declarePreviousTopology(*connection_, topology);
  Consumer consumer(*connection_);
  ASSERT_TRUE(consumer.start(topology.queue, 10).ok());
  MigrationReport refused;
  status = migrateBillingTopology(settings, topology, &refused);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("stop it first"), std::string::npos) << status.message();
  connection_.reset();
  test::deleteBillingTopology(queue_ + ".migrating");
}

// The operator's replay (billing-app replay-dead-letters): what is in the DLQ when it starts goes back to
// the queue once, with its message_id.
TEST_F(AmqpBrokerTest, ReplayMovesTheDeadLettersBackOnceWithTheirIds) {
  const BillingTopology topology = BillingTopology::forQueue(queue_);
  ASSERT_TRUE(test::publishAll(topology.deadLetterQueue, numbered(250)));
  EXPECT_EQ(readyEventually(topology.deadLetterQueue, 250), 250);
  ConnectionSettings settings;
  ASSERT_TRUE(parseUrl(test::requiredEnv("MP_TEST_AMQP_URL"), &settings).ok());
  ReplayReport report;
  Status status = replayDeadLetters(settings, topology, &report);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(report.waiting, 250u);
  EXPECT_EQ(report.replayed, 250u);
  EXPECT_EQ(readyEventually(topology.deadLetterQueue, 0), 0);
  Consumer consumer(*connection_);
  ASSERT_TRUE(consumer.start(topology.queue, 300).ok());
  std::vector<Delivery> got = take(consumer, 250);
  ASSERT_EQ(got.size(), 250u);
  std::set<std::string> ids;
  for (const Delivery& delivery : got) {
    ids.insert(delivery.messageId.value_or(""));
  }
  EXPECT_EQ(ids.size(), 250u);
  EXPECT_EQ(ids.count("id-0") + ids.count("id-249"), 2u);
  EXPECT_EQ(got[7].body, "{\"n\":7}");
}

TEST_F(AmqpBrokerTest, ConsumingAMissingQueueLosesTheChannel) {
  Consumer consumer(*connection_);
  Status status = consumer.start(queue_ + "-missing", 10);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(connection_->lost());
  EXPECT_NE(status.message().find("404"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace mp::amqp
