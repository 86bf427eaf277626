// billing-app as a process against the real RabbitMQ and PostgreSQL that scripts/test started: backlog,
// crashes, broker and database restarts, poison messages, amqp-publish's plain message, SIGTERM.
// Every run ends with an exact count: nothing lost, nothing doubled.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common/amqp_publisher.h"
#include "orders/billing_topology.h"
#include "support/broker.h"
#include "support/http_client.h"
#include "support/service_process.h"
#include "support/test_database.h"

namespace mp::billing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The issue's message counts in the release build; the ASan build scales them (MP_TEST_MESSAGE_SCALE).
int scaled(int count) {
  const char* scale = std::getenv("MP_TEST_MESSAGE_SCALE");
  const double factor = scale != nullptr ? std::atof(scale) : 1.0;
  return std::max(100, static_cast<int>(std::lround(count * (factor > 0 ? factor : 1.0))));
}

// Orders "<prefix>-<i>" for i in [from, to), each with its message_id; amounts exercise the cents.
std::vector<amqp::OutgoingMessage> orders(const std::string& prefix, int from, int to) {
  std::vector<amqp::OutgoingMessage> messages;
  messages.reserve(static_cast<std::size_t>(to - from));
  for (int i = from; i < to; ++i) {
    std::ostringstream body;
    body << R"({"user_id":"u)" << i % 97 << R"(","number_of_items":)" << 1 + i % 5 << R"(,"total_amount":")"
         << i % 1000 << "." << (i % 100 < 10 ? "0" : "") << i % 100 << "\"}";
    messages.push_back({body.str(), prefix + "-" + std::to_string(i)});
  }
  return messages;
}

// Polls `probe` every 10 ms until `done` accepts its value or `timeout` passes; returns the last value.
long pollUntil(const std::function<long()>& probe, const std::function<bool(long)>& done,
               Clock::duration timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  long value = probe();
  while (!done(value) && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
    value = probe();
  }
  return value;
}

// Publishes orders in small paced chunks on its own thread, retrying a chunk (same message ids) until the
// broker confirmed it, so that publishing spans broker restarts; repeats are harmless, billing dedups.
// It stops before message `holdAt` until release(), so a test can publish the rest during an outage.
class PacedPublisher {
 public:
  PacedPublisher(std::string queue, std::vector<amqp::OutgoingMessage> messages, std::size_t holdAt)
      : queue_(std::move(queue)),
        messages_(std::move(messages)),
        holdAt_(holdAt),
        thread_([this] { run(); }) {}
  ~PacedPublisher() {
    release();
    finish();
  }

  void release() { released_ = true; }

  // Waits for the last chunk; true when every message was confirmed.
  bool finish() {
    if (thread_.joinable()) {
      thread_.join();
    }
    return delivered_;
  }

 private:
  static constexpr std::size_t kChunk = 50;

  void run() {
    amqp::ConnectionSettings settings;
    if (!amqp::parseUrl(test::requiredEnv("MP_TEST_AMQP_URL"), &settings).ok()) {
      return;
    }
    settings.timeout = milliseconds(3000);
    const Clock::time_point deadline = Clock::now() + seconds(120);
    std::unique_ptr<amqp::Connection> connection;
    std::unique_ptr<amqp::Publisher> publisher;
    for (std::size_t from = 0; from < messages_.size() && Clock::now() < deadline;) {
      if (from == holdAt_ && !released_) {
        std::this_thread::sleep_for(milliseconds(10));
        continue;
      }
      if (!connection || connection->lost()) {
        publisher.reset();
        connection.reset();
        if (!amqp::Connection::open(settings, &connection).ok()) {
          std::this_thread::sleep_for(milliseconds(200));
          continue;
        }
        publisher = std::make_unique<amqp::Publisher>(*connection);
        if (!publisher->enableConfirms().ok()) {
          continue;
        }
      }
      const std::size_t to = std::min(from < holdAt_ ? holdAt_ : messages_.size(), from + kChunk);
      std::vector<amqp::OutgoingMessage> chunk(messages_.begin() + from, messages_.begin() + to);
      if (publisher->publish("", queue_, chunk).ok()) {
        from = to;
        delivered_ = from == messages_.size();
        // About 2,000 orders/s: slower than billing drains, so billing is busy whenever an outage hits.
        std::this_thread::sleep_for(milliseconds(25));
      }
    }
  }

  std::string queue_;
  std::vector<amqp::OutgoingMessage> messages_;
  std::size_t holdAt_;
  std::atomic<bool> released_{false};
  bool delivered_ = false;
  std::thread thread_;
};

class BillingAppTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { database_ = new test::TestDatabase("billing_app_test"); }
  static void TearDownTestSuite() {
    delete database_;
    database_ = nullptr;
  }

  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    queue_ = "billing_app_test_" + std::to_string(getpid()) + "_" + name;
    database_->scalar("DROP TABLE IF EXISTS orders, schema_migrations");
    test::deleteBillingTopology(queue_);
    // The queue exists before anything is published, as it does once the gateway or billing ran once.
    std::unique_ptr<amqp::Connection> connection = test::connectToTestBroker();
    ASSERT_TRUE(connection);
    amqp::Status status = amqp::declareBillingTopology(*connection, amqp::BillingTopology::forQueue(queue_));
    ASSERT_TRUE(status.ok()) << status.message();
  }

  void TearDown() override {
    retireApp();
    if (HasFailure()) {
      const std::size_t from = logs_.size() > 8000 ? logs_.size() - 8000 : 0;
      std::cerr << "--- end of billing-app output\n" << logs_.substr(from) << "\n";
    }
    test::deleteBillingTopology(queue_);
  }

  // Starts a fresh billing-app process on a free port (each run has its own output file).
  // `databaseUrl` empty: the test database as its superuser.
  void startApp(const std::string& databaseUrl = "") {
    retireApp();
    app_ = std::make_unique<test::ServiceProcess>(
        MP_BILLING_APP_PATH,
        test::EnvironmentOverrides{
            {"BILLING_APP_PORT", "0"},
            {"BIND_ADDRESS", "127.0.0.1"},
            {"BILLING_DATABASE_URL", databaseUrl.empty() ? database_->url() : databaseUrl},
            {"RABBITMQ_URL", test::requiredEnv("MP_TEST_AMQP_URL")},
            {"BILLING_QUEUE", queue_},
            {"ACCESS_LOG", "off"},
        });
    ASSERT_TRUE(app_->start()) << app_->output();
  }

  // SIGKILL: no batch is finished, no acknowledgement sent.
  void killApp() { app_->kill(); }

  void retireApp() {
    if (app_) {
      app_->kill();
      logs_ += app_->output();
      app_.reset();
    }
  }

  // Rows in `orders`; 0 before billing-app created the table, -1 while PostgreSQL is down.
  long rows() {
    try {
      const std::string value = database_->scalar("SELECT count(*) FROM orders");
      return std::stol(value);
    } catch (const std::exception& e) {
      return std::string(e.what()).find("does not exist") != std::string::npos ? 0 : -1;
    }
  }

  long waitForRows(long atLeast, Clock::duration timeout = seconds(180)) {
    return pollUntil([this] { return rows(); }, [atLeast](long n) { return n >= atLeast; }, timeout);
  }

  // Waits until the queue is empty and `orders` holds `expected` rows, then checks one row per message_id.
  void expectExactly(long expected) {
    EXPECT_EQ(waitForRows(expected), expected);
    EXPECT_EQ(
        pollUntil([this] { return test::countReady(queue_); }, [](long n) { return n == 0; }, seconds(30)),
        0);
    // Give a wrongly doubled insert the time to show up before the final count.
    std::this_thread::sleep_for(milliseconds(300));
    EXPECT_EQ(rows(), expected);
    EXPECT_EQ(database_->scalar("SELECT count(DISTINCT message_id) FROM orders"), std::to_string(expected));
    EXPECT_EQ(test::countReady(queue_ + ".dlq"), 0);
  }

  int httpStatus(const std::string& path, std::string* body) {
    test::HttpClient client(app_->port(), seconds(5));
    test::HttpReply reply = client.request("GET", path, "", {});
    *body = reply.body;
    return reply.status;
  }

  bool logContains(const std::string& text) { return app_->output().find(text) != std::string::npos; }

  // The value of an unlabelled counter on /metrics, -1 when it is not there.
  double metric(const std::string& name) {
    std::string body;
    if (httpStatus("/metrics", &body) != 200) {
      return -1;
    }
    const std::size_t at = body.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::atof(body.c_str() + at + name.size() + 2);
  }

  // Until billing-app has created `orders` (bounded: 30 s).
  void waitForMigration() {
    const long created = pollUntil(
        [] { return database_->scalar("SELECT to_regclass('orders') IS NOT NULL") == "t" ? 1L : 0L; },
        [](long n) { return n == 1; }, seconds(30));
    ASSERT_EQ(created, 1) << "billing-app did not create orders";
  }

  static test::TestDatabase* database_;
  std::string queue_;
  std::unique_ptr<test::ServiceProcess> app_;
  std::string logs_;  // output of the runs already ended
};

test::TestDatabase* BillingAppTest::database_ = nullptr;

TEST_F(BillingAppTest, CanonicalMessageFromAmqpPublishIsStored) {
  startApp();
  const std::string command = "amqp-publish --url='" + test::requiredEnv("MP_TEST_AMQP_URL") + "' -r '" +
                              queue_ +
                              "' -b '{\"user_id\":\"3\",\"number_of_items\":\"5\",\"total_amount\":\"180\"}'";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  ASSERT_EQ(waitForRows(1, seconds(30)), 1);
  EXPECT_EQ(database_->scalar("SELECT user_id || '|' || number_of_items || '|' || total_amount || '|' || "
                              "coalesce(message_id, 'NULL') FROM orders"),
            "3|5|180.00|NULL");
  std::string body;
  EXPECT_EQ(httpStatus("/api/orders?limit=1", &body), 200);
  EXPECT_NE(body.find(R"("total_amount":"180.00")"), std::string::npos) << body;
  EXPECT_EQ(httpStatus("/api/orders?limit=0", &body), 400);
  EXPECT_EQ(httpStatus("/readyz", &body), 200) << body;
  EXPECT_EQ(httpStatus("/healthz", &body), 200);
}

TEST_F(BillingAppTest, PoisonMessagesAreDeadLetteredAndTheirNeighboursStored) {
  const std::vector<amqp::OutgoingMessage> messages = {
      {R"({"user_id":"1","number_of_items":1,"total_amount":"1.00"})", "valid-1"},
      {R"({"user_id":"1","number_of_items":)", "bad-json"},
      {R"({"user_id":"2","number_of_items":2,"total_amount":2})", "valid-2"},
      {R"([{"user_id":"1","number_of_items":1,"total_amount":1}])", "bad-array"},
      {R"({"user_id":"1","total_amount":"5"})", "bad-missing"},
      {R"({"user_id":"3","number_of_items":"3","total_amount":"3.30"})", "valid-3"},
      {R"({"user_id":"1","number_of_items":1,"total_amount":"-5"})", "bad-negative"},
      {R"({"user_id":"1","number_of_items":"abc","total_amount":"5"})", "bad-items"},
      {R"({"user_id":"4","number_of_items":4,"total_amount":"0.04"})", "valid-4"},
  };
  ASSERT_TRUE(test::publishAll(queue_, messages));
  startApp();
  EXPECT_EQ(pollUntil([this] { return test::countReady(queue_ + ".dlq"); }, [](long n) { return n >= 5; },
                      seconds(30)),
            5);
  EXPECT_EQ(waitForRows(4, seconds(30)), 4);
  EXPECT_EQ(database_->scalar("SELECT string_agg(message_id, ',' ORDER BY message_id) FROM orders"),
            "valid-1,valid-2,valid-3,valid-4");
  EXPECT_EQ(test::countReady(queue_), 0);
  std::string metrics;
  ASSERT_EQ(httpStatus("/metrics", &metrics), 200);
  EXPECT_NE(metrics.find("billing_messages_total{outcome=\"rejected\"} 5"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("billing_messages_total{outcome=\"stored\"} 4"), std::string::npos);
}

TEST_F(BillingAppTest, BacklogPublishedWhileStoppedIsDrainedOnStart) {
  const int total = scaled(10000);
  ASSERT_TRUE(test::publishAll(queue_, orders("backlog", 0, total)));
  ASSERT_EQ(test::countReady(queue_), total);
  const Clock::time_point started = Clock::now();
  startApp();
  expectExactly(total);
  const double secondsTaken = std::chrono::duration<double>(Clock::now() - started).count();
  std::cerr << "drained " << total << " orders in " << secondsTaken << " s (" << total / secondsTaken
            << " orders/s, including start-up)\n";
}

TEST_F(BillingAppTest, ThreeKillsDuringConsumptionLoseAndDoubleNothing) {
  const int total = scaled(20000);
  ASSERT_TRUE(test::publishAll(queue_, orders("crash", 0, total)));
  for (int kill = 1; kill <= 3; ++kill) {
    startApp();
    const long threshold = total * kill / 4;
    const long seen = waitForRows(threshold);
    ASSERT_GE(seen, threshold);
    killApp();
    const long atKill = rows();
    // The kill must land mid-run, or the test would prove nothing.
    EXPECT_LT(atKill, total) << "kill " << kill << " came after the last order";
    std::cerr << "kill " << kill << ": " << atKill << " of " << total << " stored\n";
  }
  startApp();
  expectExactly(total);
}

TEST_F(BillingAppTest, BrokerAndDatabaseRestartsMidRunKeepTheCountExact) {
  const int total = scaled(5000);
  // Orders keep arriving through the broker outage, like the gateway would send them; the last fifth
  // waits for the database outage.
  PacedPublisher publisher(queue_, orders("restart", 0, total), static_cast<std::size_t>(total) * 4 / 5);
  startApp();

  // Broker restart: the app loses its connection, reconnects with backoff and resumes.
  ASSERT_GE(waitForRows(total / 5), total / 5);
  ASSERT_TRUE(test::brokerControl("stop"));
  EXPECT_TRUE(app_->running());
  ASSERT_TRUE(test::brokerControl("start"));

  // Database restart: billing gets deliveries it cannot store; it must hold them (not hand them back,
  // which would count against their delivery limit), report not ready, and store them once PostgreSQL is
  // back.
  ASSERT_GE(waitForRows(total * 7 / 10), total * 7 / 10);
  const char* pgControl = std::getenv("MP_TEST_PG_CTL");
  ASSERT_NE(pgControl, nullptr);
  ASSERT_EQ(std::system((std::string(pgControl) + " stop").c_str()), 0);
  publisher.release();
  std::string body;
  const long readiness = pollUntil([&] { return static_cast<long>(httpStatus("/readyz", &body)); },
                                   [](long s) { return s == 503; }, seconds(15));
  EXPECT_EQ(readiness, 503) << body;
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_TRUE(app_->running());
  ASSERT_EQ(std::system((std::string(pgControl) + " start").c_str()), 0);

  EXPECT_TRUE(publisher.finish()) << "the publisher could not deliver every order";
  expectExactly(total);
  EXPECT_EQ(pollUntil([&] { return static_cast<long>(httpStatus("/readyz", &body)); },
                      [](long s) { return s == 200; }, seconds(15)),
            200)
      << body;
  EXPECT_TRUE(logContains("amqp_connection_lost")) << "the broker restart did not reach the consumer";
  EXPECT_TRUE(logContains("database_cannot_take_orders"))
      << "no batch was in hand while the database was down";
}

TEST_F(BillingAppTest, DatabaseDownAtStartIsWaitedFor) {
  const int total = scaled(2000);
  ASSERT_TRUE(test::publishAll(queue_, orders("late-db", 0, total)));
  const std::string pgControl = test::requiredEnv("MP_TEST_PG_CTL");
  ASSERT_EQ(std::system((pgControl + " stop").c_str()), 0);
  startApp();
  std::string body;
  EXPECT_EQ(httpStatus("/healthz", &body), 200);
  EXPECT_EQ(httpStatus("/readyz", &body), 503);
  EXPECT_NE(body.find("database"), std::string::npos) << body;
  std::this_thread::sleep_for(milliseconds(1000));
  // Nothing was taken while the database could not store it.
  EXPECT_EQ(test::countReady(queue_), total);
  ASSERT_EQ(std::system((pgControl + " start").c_str()), 0);
  expectExactly(total);
}

TEST_F(BillingAppTest, QueueWithOtherArgumentsIsReportedWithoutATightLoop) {
  // A classic queue of the same name (say, from an older version) makes the quorum declaration fail.
  test::deleteBillingTopology(queue_);
  std::unique_ptr<amqp::Connection> connection = test::connectToTestBroker();
  ASSERT_TRUE(connection);
  amqp_queue_declare(connection->state(), amqp::Connection::kChannel, amqp_cstring_bytes(queue_.c_str()),
                     false, true, false, false, amqp_empty_table);
  ASSERT_TRUE(connection->check(amqp_get_rpc_reply(connection->state()), "queue.declare").ok());
  startApp();
  std::this_thread::sleep_for(milliseconds(2000));
  std::string body;
  EXPECT_EQ(httpStatus("/readyz", &body), 503);
  EXPECT_NE(body.find("not consuming"), std::string::npos) << body;
  const std::string output = app_->output();
  std::size_t failures = 0;
  for (std::size_t at = output.find("amqp_consume_failed"); at != std::string::npos;
       at = output.find("amqp_consume_failed", at + 1)) {
    ++failures;
  }
  EXPECT_GE(failures, 1u) << output;
  // Backoff: 100, 200, 400, 800 ms... about five attempts in two seconds, not thousands.
  EXPECT_LE(failures, 8u) << output;
  EXPECT_NE(output.find("PRECONDITION_FAILED"), std::string::npos);
}

TEST_F(BillingAppTest, SigtermFinishesTheBatchInHandAndExitsZero) {
  // Not scaled down (MP_TEST_MESSAGE_SCALE): the SIGTERM must land while orders remain, and at a quarter
  // (5,000, the tsan step) billing-app under ThreadSanitizer stored them all in the ~150 ms between the
  // 1,000th row and the signal's effect (2026-12-02, a new machine).
  const int total = 20000;
  ASSERT_TRUE(test::publishAll(queue_, orders("term", 0, total)));
  startApp();
  ASSERT_GE(waitForRows(total / 5), total / 5);
  EXPECT_EQ(app_->stop(seconds(20)), 0) << "SIGTERM must end billing-app with exit code 0";
  // Every order is either committed and acknowledged, or back in the queue: never both, never neither.
  const long stored = rows();
  const long waiting = pollUntil([this] { return test::countReady(queue_); },
                                 [&](long n) { return n + stored >= total; }, seconds(10));
  EXPECT_EQ(stored + waiting, total) << stored << " stored, " << waiting << " waiting";
  EXPECT_LT(stored, total) << "SIGTERM came after the last order";
  // And the rest is stored by the next run.
  startApp();
  expectExactly(total);
}

// Issue 15's reproduction: billing-app as an ordinary role, INSERT revoked for 10 s while 300 valid orders
// wait. A privilege error is not about an order: none may be dead-lettered; all are stored after the GRANT.
TEST_F(BillingAppTest, RevokedInsertPrivilegeHoldsOrdersUntilGrantedAndDeadLettersNone) {
  const std::string role = "billing_app_writer_" + std::to_string(getpid());
  database_->scalar("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role + " LOGIN; ALTER DATABASE " +
                    database_->name() + " OWNER TO " + role);
  std::string url = database_->url();
  url.replace(url.find("postgres@"), std::string("postgres@").size(), role + "@");
  startApp(url);
  waitForMigration();
  ASSERT_EQ(database_->scalar("SELECT tableowner FROM pg_tables WHERE tablename = 'orders'"), role);
  database_->scalar("REVOKE INSERT ON orders FROM " + role);
  ASSERT_TRUE(test::publishAll(queue_, orders("revoked", 0, 300)));
  std::this_thread::sleep_for(seconds(10));
  EXPECT_EQ(rows(), 0);
  EXPECT_EQ(test::countReady(queue_ + ".dlq"), 0) << "valid orders were dead-lettered during the REVOKE";
  EXPECT_TRUE(logContains("42501")) << "the privilege error was not reported";
  database_->scalar("GRANT INSERT ON orders TO " + role);
  expectExactly(300);
  retireApp();
  database_->scalar("DROP TABLE IF EXISTS orders, schema_migrations; ALTER DATABASE " + database_->name() +
                    " OWNER TO postgres; DROP ROLE " + role);
}

// An ACCESS EXCLUSIVE lock on `orders` (an ALTER, a non-concurrent index build) that outlives the statement
// timeout: every insert fails with 57014 while SELECT 1 answers. The consumer must hold its deliveries and
// retry with backoff, not hand them back and re-read them until the delivery limit dead-letters them.
// MP_TEST_ORDERS_LOCK_SECONDS sets the lock's length (60 s by default; docs/reliability.md has a 300 s run).
TEST_F(BillingAppTest, ALongTableLockDeadLettersNothingAndAddsBoundedRedeliveries) {
  const char* configured = std::getenv("MP_TEST_ORDERS_LOCK_SECONDS");
  const int lockSeconds = configured != nullptr && std::atoi(configured) > 0 ? std::atoi(configured) : 60;
  const int total = 1000;
  // A short statement timeout makes each failed insert quick, which is what made the old loop spin.
  startApp(database_->url() + "?options=-c%20statement_timeout%3D250");
  waitForMigration();
  test::SqlSession locker(database_->url());
  locker.scalar("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
  ASSERT_TRUE(test::publishAll(queue_, orders("locked", 0, total)));
  const Clock::time_point lockStarted = Clock::now();
  const Clock::time_point lockEnds = lockStarted + seconds(lockSeconds);
  while (Clock::now() < lockEnds) {
    std::this_thread::sleep_for(seconds(1));
    // SELECT 1 answers all along: the database is up, only `orders` is locked.
    ASSERT_EQ(database_->scalar("SELECT 1"), "1");
    const long dead = test::countReady(queue_ + ".dlq");
    if (dead != 0) {
      ADD_FAILURE() << dead << " valid orders dead-lettered after "
                    << std::chrono::duration_cast<seconds>(Clock::now() - lockStarted).count()
                    << " s of the lock";
      break;
    }
  }
  const double attempts = metric("billing_database_retries_total");
  locker.scalar("ROLLBACK");
  expectExactly(total);
  const double redeliveries = metric("billing_redeliveries_total");
  std::cerr << "lock of " << lockSeconds << " s: " << total << " orders stored, DLQ empty, " << redeliveries
            << " redeliveries, " << attempts << " retried inserts during the lock\n";
  EXPECT_GE(redeliveries, 0) << "billing_redeliveries_total is missing";
  // At most one return of what billing held (its prefetch is twice the batch of 500).
  EXPECT_LE(redeliveries, 1000);
}

TEST(BillingAppSettings, MissingOrBadSettingStopsWithOneLineNamingIt) {
  struct Case {
    test::EnvironmentOverrides env;
    std::string variable;
  };
  const std::vector<Case> cases = {
      {{{"RABBITMQ_URL", "amqp://u:p@127.0.0.1:1/%2f"}, {"BILLING_DATABASE_URL", ""}},
       "BILLING_DATABASE_URL"},
      {{{"RABBITMQ_URL", ""}, {"BILLING_DATABASE_URL", "postgresql://u@127.0.0.1:1/orders"}}, "RABBITMQ_URL"},
      {{{"RABBITMQ_URL", "amqp://u:p@:x/"}, {"BILLING_DATABASE_URL", "postgresql://u@127.0.0.1:1/orders"}},
       "RABBITMQ_URL"},
      {{{"RABBITMQ_URL", "amqp://u:p@127.0.0.1:1/%2f"},
        {"BILLING_DATABASE_URL", "postgresql://u@127.0.0.1:1/orders"},
        {"BILLING_BATCH_SIZE", "0"}},
       "BILLING_BATCH_SIZE"},
  };
  for (const Case& c : cases) {
    test::ServiceProcess app(MP_BILLING_APP_PATH, c.env);
    EXPECT_EQ(app.runToExit(), 2) << c.variable;
    const std::string output = app.output();
    EXPECT_NE(output.find(c.variable), std::string::npos) << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  }
}

}  // namespace
}  // namespace mp::billing
