// The event-driven PostgreSQL pool against the real throw-away server from scripts/test.
#include "common/postgres_async.h"

#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "support/tcp_proxy.h"
#include "support/test_database.h"

namespace mp::pg {
namespace {

using test::boundedCall;
using test::TestDatabase;
using namespace std::chrono_literals;

std::vector<Statement> statements() {
  return {{"insert_item", "INSERT INTO items (name, qty) VALUES ($1, $2) RETURNING id", Retry::kNever},
          {"count_items", "SELECT count(*) FROM items", Retry::kOnReconnect},
          {"echo", "SELECT $1::int", Retry::kOnReconnect},
          {"sleep", "SELECT pg_sleep($1::float8)", Retry::kOnReconnect},
          {"backend_pid", "SELECT pg_backend_pid()", Retry::kOnReconnect},
          {"broken", "SELECT FROM nowhere_at_all", Retry::kOnReconnect},
          {"prepared_names",
           "SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM pg_prepared_statements WHERE name "
           "LIKE $1",
           Retry::kOnReconnect, true}};
}

void createItems(const TestDatabase& db) {
  Pool direct(db.url(), {}, PoolOptions{}, nullptr, "test");
  ASSERT_TRUE(migrate(direct, "test",
                      {{1, "items",
                        "CREATE TABLE items (id serial PRIMARY KEY, name text UNIQUE, qty int CHECK "
                        "(qty > 0))"}})
                  .ok());
}

AsyncPoolOptions sized(size_t connections, size_t depth = 1) {
  AsyncPoolOptions options;
  options.pool.size = connections;
  options.pipelineDepth = depth;
  return options;
}

TEST(PostgresAsyncPool, RunsPreparedStatementsAndClassifiesErrors) {
  TestDatabase db("async_errors");
  createItems(db);
  AsyncPool pool(db.url(), statements(), sized(2), nullptr, "test");

  auto inserted = pool.runAndWait("insert_item", {std::string("a"), std::string("1")});
  ASSERT_TRUE(inserted.ok()) << inserted.status().message();
  EXPECT_EQ(inserted.rows(), 1);
  EXPECT_EQ(pool.runAndWait("insert_item", {std::string("a"), std::string("2")}).status().code(),
            Code::kConflict);
  EXPECT_EQ(pool.runAndWait("insert_item", {std::string("b"), std::string("0")}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(pool.runAndWait("broken", {}).status().code(), Code::kInternal);
  EXPECT_EQ(pool.runAndWait("no_such_statement", {}).status().code(), Code::kInternal);
  // A failed prepare is forgotten: the statement is prepared again, and fails again, on its next use.
  EXPECT_EQ(pool.runAndWait("broken", {}).status().code(), Code::kInternal);
  auto count = pool.runAndWait("count_items", {});
  ASSERT_TRUE(count.ok()) << count.status().message();
  EXPECT_EQ(count.integer(0, 0), 1);
  EXPECT_TRUE(pool.ping().ok());
}

TEST(PostgresAsyncPool, AStatementPlannedPerCallIsNeverPrepared) {
  TestDatabase db("async_plan_each_call");
  AsyncPool pool(db.url(), statements(), sized(1), nullptr, "test");
  ASSERT_TRUE(pool.runAndWait("backend_pid", {}).ok());
  auto names = pool.runAndWait("prepared_names", {std::string("%")});
  ASSERT_TRUE(names.ok()) << names.status().message();
  EXPECT_EQ(names.text(0, 0), "backend_pid");
}

// Many statements at once on few connections, pipelined: each answer reaches its own caller, once.
TEST(PostgresAsyncPool, EveryStatementInAPipelineGetsItsOwnAnswerOnce) {
  TestDatabase db("async_pipeline");
  AsyncPool pool(db.url(), statements(), sized(2, 8), nullptr, "test");
  constexpr int kCalls = 2000;
  std::vector<std::atomic<int>> answers(kCalls);
  std::atomic<int> wrong{0};
  std::atomic<int> done{0};
  std::promise<void> all;
  for (int i = 0; i < kCalls; ++i) {
    pool.run("echo", {std::to_string(i)}, [&, i](Result result) {
      if (!result.ok() || result.integer(0, 0) != i) {
        ++wrong;
      }
      ++answers[static_cast<size_t>(i)];
      if (++done == kCalls) {
        all.set_value();
      }
    });
  }
  ASSERT_EQ(all.get_future().wait_for(30s), std::future_status::ready) << done << " of " << kCalls;
  EXPECT_EQ(wrong, 0);
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(answers[static_cast<size_t>(i)], 1) << "call " << i;
  }
}

// The guarantee the worker pool used to give: with one pipeline slot per connection, statements behind a
// slow one go to the connections left free, so they all finish while it still runs.
TEST(PostgresAsyncPool, ASlowStatementDelaysNoOtherWhileAConnectionIsFree) {
  TestDatabase db("async_slow");
  AsyncPool pool(db.url(), statements(), sized(2), nullptr, "test");
  ASSERT_TRUE(pool.runAndWait("echo", {std::string("0")}).ok());  // both connections need not be open yet
  std::promise<Result> slow;
  pool.run("sleep", {std::string("3")}, [&](Result result) { slow.set_value(std::move(result)); });
  auto slowAnswer = slow.get_future();
  for (int i = 0; i < 50; ++i) {
    Result echo = pool.runAndWait("echo", {std::to_string(i)});
    ASSERT_TRUE(echo.ok()) << echo.status().message();
    EXPECT_EQ(echo.integer(0, 0), i);
  }
  EXPECT_EQ(slowAnswer.wait_for(0ms), std::future_status::timeout) << "the 3 s sleep ended before 50 reads";
  EXPECT_TRUE(slowAnswer.get().ok());
}

TEST(PostgresAsyncPool, AFullQueueRefusesAtOnce) {
  TestDatabase db("async_queue");
  AsyncPoolOptions options = sized(1);
  options.queueLimit = 2;
  AsyncPool pool(db.url(), statements(), options, nullptr, "test");
  ASSERT_TRUE(pool.runAndWait("echo", {std::string("0")}).ok());
  std::promise<Result> slow;
  pool.run("sleep", {std::string("1")}, [&](Result result) { slow.set_value(std::move(result)); });
  std::this_thread::sleep_for(200ms);  // the sleep is on the one connection
  std::mutex mutex;
  std::vector<Status> queued;
  std::promise<void> refused;
  for (int i = 0; i < 3; ++i) {
    pool.run("echo", {std::to_string(i)}, [&](Result result) {
      std::lock_guard<std::mutex> lock(mutex);
      queued.push_back(result.status());
      if (queued.size() == 1) {
        refused.set_value();
      }
    });
  }
  refused.get_future().wait();
  {
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_EQ(queued.size(), 1u) << "the third call was not refused before the sleep ended";
    EXPECT_EQ(queued[0].code(), Code::kUnavailable);
    EXPECT_NE(queued[0].message().find("too many"), std::string::npos) << queued[0].message();
  }
  EXPECT_TRUE(slow.get_future().get().ok());
  std::this_thread::sleep_for(300ms);
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(queued.size(), 3u);
  EXPECT_TRUE(queued[1].ok() && queued[2].ok());
}

TEST(PostgresAsyncPool, AnUnreachableServerIsReportedFastAndBacksOff) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  AsyncPool pool("postgresql://postgres@127.0.0.1:1/none", statements(), AsyncPoolOptions{}, nullptr, "test");
  auto started = std::chrono::steady_clock::now();
  auto first = pool.runAndWait("count_items", {});
  auto second = pool.runAndWait("count_items", {});
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(first.status().code(), Code::kUnavailable);
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
  EXPECT_NE(second.status().message().find("next reconnect attempt"), std::string::npos)
      << second.status().message();
  EXPECT_LT(elapsed, 2s);
  Status pinged = pool.ping();
  EXPECT_FALSE(pinged.ok());
  EXPECT_FALSE(pinged.message().empty());
}

// A failover: the server closes every connection and refuses new ones for 0.6 s, then a new primary
// answers at the same address. Within failoverWait the statements wait for the reconnect instead of
// ending kUnavailable at once; a server still away after failoverWait fails them then, and at once after.
TEST(PostgresAsyncPool, StatementsWaitOutAFailoverShorterThanFailoverWait) {
  TestDatabase db("async_failover");
  createItems(db);
  test::TcpProxy proxy(db.port());
  AsyncPoolOptions options = sized(2);
  options.failoverWait = 1500ms;
  AsyncPool pool(db.urlWithPort(proxy.port()), statements(), options, nullptr, "test");
  ASSERT_TRUE(pool.runAndWait("count_items", {}).ok());

  proxy.setMode(test::TcpProxy::Mode::kRefuse);
  proxy.closeAll();
  std::this_thread::sleep_for(100ms);  // the pool sees its connections closed
  auto back = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(500ms);
    proxy.setMode(test::TcpProxy::Mode::kForward);
  });
  int64_t took = 0;
  Result read = boundedCall(
      proxy, 20s, [&] { return pool.runAndWait("count_items", {}); }, &took);
  back.get();
  ASSERT_TRUE(read.ok()) << "failed after " << took << " ms: " << read.status().message();
  EXPECT_GE(took, 300) << "answered before the server was back?";
  EXPECT_LT(took, 1500);

  // Away for longer than failoverWait: the waiting statement ends when it is over, the next at once.
  proxy.setMode(test::TcpProxy::Mode::kRefuse);
  proxy.closeAll();
  std::this_thread::sleep_for(100ms);
  Result waited = boundedCall(
      proxy, 20s, [&] { return pool.runAndWait("count_items", {}); }, &took);
  EXPECT_EQ(waited.status().code(), Code::kUnavailable);
  EXPECT_GE(took, 1000);
  EXPECT_LT(took, 2000);
  Result atOnce = boundedCall(
      proxy, 20s, [&] { return pool.runAndWait("count_items", {}); }, &took);
  EXPECT_EQ(atOnce.status().code(), Code::kUnavailable);
  EXPECT_LT(took, 300);
}

// A server that vanishes without closing the connection: the statement fails within the client-side
// answer deadline (statement timeout + 2 s), and the pool reconnects once the server is back.
TEST(PostgresAsyncPool, AServerThatGoesSilentFailsTheStatementWithinTheAnswerDeadline) {
  TestDatabase db("async_silent");
  createItems(db);
  test::TcpProxy proxy(db.port());
  AsyncPoolOptions options = sized(1);
  options.pool.statementTimeout = 1000ms;
  AsyncPool pool(db.urlWithPort(proxy.port()), statements(), options, nullptr, "test");
  ASSERT_TRUE(pool.runAndWait("count_items", {}).ok());

  proxy.setMode(test::TcpProxy::Mode::kSilent);
  int64_t took = 0;
  Result statement = boundedCall(
      proxy, 20s, [&] { return pool.runAndWait("count_items", {}); }, &took);
  EXPECT_EQ(statement.status().code(), Code::kUnavailable) << statement.status().message();
  EXPECT_LT(took, 1000 + 2000 + 1500) << statement.status().message();

  proxy.setMode(test::TcpProxy::Mode::kForward);
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {  // past the pool's reconnect backoff (at most 1 s)
    back = pool.runAndWait("count_items", {}).ok();
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(back) << "the pool did not reconnect";
}

// The statement ran, then its answer was lost with the connection: sent again only when it chose
// Retry::kOnReconnect; an INSERT (Retry::kNever) reports kUnavailable and is not run twice.
TEST(PostgresAsyncPool, ALostAnswerIsRetriedOnlyForStatementsThatChoseIt) {
  TestDatabase db("async_lost_answer");
  createItems(db);
  test::TcpProxy proxy(db.port());
  AsyncPool pool(db.urlWithPort(proxy.port()), statements(), sized(1), nullptr, "test");
  ASSERT_TRUE(pool.runAndWait("insert_item", {std::string("warm"), std::string("1")}).ok());  // prepared now
  ASSERT_TRUE(pool.runAndWait("count_items", {}).ok());

  proxy.setMode(test::TcpProxy::Mode::kCutNextReply);
  Result read = pool.runAndWait("count_items", {});
  EXPECT_EQ(proxy.repliesCut(), 1);
  ASSERT_TRUE(read.ok()) << "a read whose answer was lost was not retried: " << read.status().message();
  EXPECT_EQ(read.integer(0, 0), 1);

  ASSERT_TRUE(
      pool.runAndWait("insert_item", {std::string("warm-2"), std::string("1")}).ok());  // prepared again
  proxy.setMode(test::TcpProxy::Mode::kCutNextReply);
  Result insert = pool.runAndWait("insert_item", {std::string("once"), std::string("1")});
  EXPECT_EQ(proxy.repliesCut(), 2);
  EXPECT_EQ(insert.status().code(), Code::kUnavailable) << insert.status().message();
  EXPECT_EQ(db.scalar("SELECT count(*) FROM items WHERE name = 'once'"), "1") << "it ran, once";
}

TEST(PostgresAsyncPool, AServerThatGoesSilentFailsTheConnectWithinTheConnectTimeout) {
  TestDatabase db("async_silent_connect");
  test::TcpProxy proxy(db.port());
  proxy.setMode(test::TcpProxy::Mode::kSilent);
  AsyncPoolOptions options;
  options.pool.connectTimeout = 1000ms;
  options.queueWait = 5000ms;
  AsyncPool pool(db.urlWithPort(proxy.port()), statements(), options, nullptr, "test");
  int64_t took = 0;
  Result result = boundedCall(
      proxy, 20s, [&] { return pool.runAndWait("count_items", {}); }, &took);
  EXPECT_EQ(result.status().code(), Code::kUnavailable) << result.status().message();
  EXPECT_NE(result.status().message().find("timeout expired"), std::string::npos)
      << result.status().message();
  EXPECT_LT(took, 1000 + 1500) << result.status().message();
}

TEST(PostgresAsyncPool, StatementsInFlightEndWhenThePoolIsDestroyed) {
  TestDatabase db("async_shutdown");
  std::promise<Result> slow;
  {
    AsyncPool pool(db.url(), statements(), sized(1), nullptr, "test");
    ASSERT_TRUE(pool.runAndWait("echo", {std::string("1")}).ok());
    pool.run("sleep", {std::string("3")}, [&](Result result) { slow.set_value(std::move(result)); });
  }
  auto answer = slow.get_future();
  ASSERT_EQ(answer.wait_for(0ms), std::future_status::ready);
  Result result = answer.get();
  EXPECT_EQ(result.status().code(), Code::kUnavailable);
  EXPECT_NE(result.status().message().find("shutting down"), std::string::npos) << result.status().message();
}

// The sum over db_pool_connections' states in `metrics`.
double gaugedConnections(ServiceMetrics& metrics) {
  double sum = 0;
  const std::string text = metrics.render();
  for (size_t at = text.find("\ndb_pool_connections{"); at != std::string::npos;
       at = text.find("\ndb_pool_connections{", at + 1)) {
    const size_t value = text.find("} ", at) + 2;
    sum += std::stod(text.substr(value, text.find('\n', value) - value));
  }
  return sum;
}

TEST(PostgresAsyncPool, ConnectionsSplitOverLoopsAreAllUsedAndCountedOnce) {
  TestDatabase db("async_loops");
  ServiceMetrics metrics("test");
  AsyncPoolOptions options = sized(3);
  options.loops = 2;
  AsyncPool pool(db.url(), statements(), options, &metrics, "test");
  EXPECT_EQ(pool.loops(), 2u);
  std::set<long long> backends;
  for (int i = 0; i < 40; ++i) {
    Result pid = pool.runAndWait("backend_pid", {});
    ASSERT_TRUE(pid.ok()) << pid.status().message();
    backends.insert(pid.integer(0, 0));
  }
  // Calls from a thread that drives no loop take the loops in turn: both are used, and no more than the
  // three connections exist.
  EXPECT_GE(backends.size(), 2u);
  EXPECT_LE(backends.size(), 3u);
  EXPECT_EQ(gaugedConnections(metrics), 3);
}

// A hosted pool's loops run on the host's thread: here a plain poll() loop, as an HTTP reactor would.
TEST(PostgresAsyncPool, AHostedLoopAnswersOnItsHostsThreadAndEndsItsCallsWhenDestroyed) {
  TestDatabase db("async_hosted");
  AsyncPoolOptions options = sized(1);
  options.hosted = true;
  std::promise<Result> slow;
  {
    AsyncPool pool(db.url(), statements(), options, nullptr, "test");
    std::atomic<bool> stop{false};
    std::thread::id hostId;
    std::thread host([&] {
      while (!stop) {
        pollfd ready{pool.loop(0).pollFd(), POLLIN, 0};
        ::poll(&ready, 1, 50);  // the pool's deadlines are met by this tick
        pool.loop(0).turn(true);
      }
    });
    hostId = host.get_id();
    std::promise<std::thread::id> answeredOn;
    pool.run("echo", {std::string("7")}, [&](Result result) {
      EXPECT_EQ(result.integer(0, 0), 7);
      answeredOn.set_value(std::this_thread::get_id());
    });
    auto on = answeredOn.get_future();
    ASSERT_EQ(on.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(on.get(), hostId);
    pool.run("sleep", {std::string("3")}, [&](Result result) { slow.set_value(std::move(result)); });
    std::this_thread::sleep_for(200ms);  // sent, not answered
    stop = true;
    host.join();
  }
  auto answer = slow.get_future();
  ASSERT_EQ(answer.wait_for(0ms), std::future_status::ready);
  EXPECT_NE(answer.get().status().message().find("shutting down"), std::string::npos);
}

}  // namespace
}  // namespace mp::pg
