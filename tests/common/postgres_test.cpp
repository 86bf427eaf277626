// The PostgreSQL pool and migrations against the real throw-away server from scripts/test.
#include "common/postgres.h"

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "support/tcp_proxy.h"
#include "support/test_database.h"

namespace mp::pg {
namespace {

using test::boundedCall;
using test::TestDatabase;

std::vector<Statement> statements() {
  return {{"insert_item", "INSERT INTO items (name, qty) VALUES ($1, $2) RETURNING id", Retry::kNever},
          {"count_items", "SELECT count(*) FROM items", Retry::kOnReconnect},
          {"backend_pid", "SELECT pg_backend_pid()", Retry::kOnReconnect},
          {"broken", "SELECT FROM nowhere_at_all", Retry::kOnReconnect},
          {"prepared_names",
           "SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM pg_prepared_statements WHERE name "
           "LIKE $1",
           Retry::kOnReconnect, true}};
}

std::vector<Migration> migrations() {
  return {
      {1, "items", "CREATE TABLE items (id serial PRIMARY KEY, name text UNIQUE, qty int CHECK (qty > 0))"},
      {2, "index", "CREATE INDEX items_qty ON items (qty)"}};
}

TEST(PostgresPool, RunsPreparedStatementsAndClassifiesErrors) {
  TestDatabase db("pool_errors");
  PoolOptions options;
  options.size = 2;
  Pool pool(db.url(), statements(), options, nullptr, "test");
  ASSERT_TRUE(migrate(pool, "test", migrations()).ok());

  auto inserted = pool.run("insert_item", {std::string("a"), std::string("1")});
  ASSERT_TRUE(inserted.ok()) << inserted.status().message();
  EXPECT_EQ(inserted.rows(), 1);
  EXPECT_EQ(pool.run("insert_item", {std::string("a"), std::string("2")}).status().code(), Code::kConflict);
  EXPECT_EQ(pool.run("insert_item", {std::string("b"), std::string("0")}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(pool.run("broken", {}).status().code(), Code::kInternal);
  EXPECT_EQ(pool.run("no_such_statement", {}).status().code(), Code::kInternal);
  auto count = pool.run("count_items", {});
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count.integer(0, 0), 1);
}

TEST(PostgresPool, AStatementPlannedPerCallIsNeverPrepared) {
  TestDatabase db("pool_plan_each_call");
  PoolOptions options;
  options.size = 1;  // one connection: both statements run on it
  Pool pool(db.url(), statements(), options, nullptr, "test");
  ASSERT_TRUE(pool.run("backend_pid", {}).ok());
  for (int i = 0; i < 7; ++i) {  // past the five calls after which PostgreSQL may switch to a generic plan
    auto names = pool.run("prepared_names", {std::string("%")});
    ASSERT_TRUE(names.ok()) << names.status().message();
    EXPECT_EQ(names.text(0, 0), "backend_pid");
  }
}

TEST(PostgresPool, MigrationsAreVersionedAndRunOnce) {
  TestDatabase db("pool_migrations");
  Pool pool(db.url(), {}, PoolOptions{}, nullptr, "test");
  ASSERT_TRUE(migrate(pool, "test", migrations()).ok());
  ASSERT_TRUE(migrate(pool, "test", migrations()).ok());  // the CREATE TABLE would fail if run twice
  EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_migrations WHERE component = 'test'"), "2");
  auto more = migrations();
  more.push_back({3, "column", "ALTER TABLE items ADD COLUMN note text"});
  ASSERT_TRUE(migrate(pool, "test", more).ok());
  EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_migrations"), "3");
  // A failing migration is rolled back and reported with its version.
  more.push_back({4, "bad", "ALTER TABLE nowhere ADD COLUMN x int"});
  Status error = migrate(pool, "test", more);
  EXPECT_NE(error.message().find("migration 4"), std::string::npos) << error.message();
  EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_migrations"), "3");
}

TEST(PostgresPool, AConnectionIsNeverUsedByTwoThreadsAtOnce) {
  TestDatabase db("pool_threads");
  PoolOptions options;
  options.size = 3;
  Pool pool(db.url(), statements(), options, nullptr, "test");
  std::mutex mutex;
  std::set<std::string> inUse;
  std::set<std::string> seen;
  std::atomic<int> overlaps{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 40; ++i) {
        auto lease = pool.acquire(std::chrono::seconds(10));
        ASSERT_TRUE(lease);
        auto pid = lease->execute("backend_pid", {});
        ASSERT_TRUE(pid.ok()) << pid.status().message();
        std::string backend = pid.text(0, 0);
        {
          std::lock_guard<std::mutex> lock(mutex);
          overlaps += !inUse.insert(backend).second;
          seen.insert(backend);
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        std::lock_guard<std::mutex> lock(mutex);
        inUse.erase(backend);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(overlaps, 0);
  EXPECT_LE(seen.size(), 3u);
}

TEST(PostgresPool, AnUnreachableServerIsReportedFastAndBacksOff) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  Pool pool("postgresql://postgres@127.0.0.1:1/none", statements(), PoolOptions{}, nullptr, "test");
  auto started = std::chrono::steady_clock::now();
  auto first = pool.run("count_items", {});
  auto second = pool.run("count_items", {});
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(first.status().code(), Code::kUnavailable);
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  Status pinged = pool.ping();
  EXPECT_FALSE(pinged.ok());
  EXPECT_FALSE(pinged.message().empty());
}

// A server that vanishes without closing the connection (power loss, a partition): the socket stays open
// and nothing ever answers. A statement and an unprepared exec must both fail within the client-side
// answer deadline (statement timeout + 2 s), not wait for the kernel to give up on the connection.
TEST(PostgresPool, AServerThatGoesSilentFailsTheStatementWithinTheAnswerDeadline) {
  TestDatabase db("pool_silent");
  {
    Pool direct(db.url(), {}, PoolOptions{}, nullptr, "test");
    ASSERT_TRUE(migrate(direct, "test", migrations()).ok());
  }
  test::TcpProxy proxy(db.port());
  PoolOptions options;
  options.size = 1;
  options.statementTimeout = std::chrono::milliseconds(1000);
  Pool pool(db.urlWithPort(proxy.port()), statements(), options, nullptr, "test");
  ASSERT_TRUE(pool.run("count_items", {}).ok());

  proxy.setMode(test::TcpProxy::Mode::kSilent);
  int64_t took = 0;
  Result statement = boundedCall(
      proxy, std::chrono::seconds(20), [&] { return pool.run("count_items", {}); }, &took);
  EXPECT_EQ(statement.status().code(), Code::kUnavailable) << statement.status().message();
  EXPECT_LT(took, 1000 + 2000 + 1500) << statement.status().message();

  proxy.setMode(test::TcpProxy::Mode::kForward);
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {  // past the pool's reconnect backoff (at most 1 s)
    back = pool.run("count_items", {}).ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(back) << "the pool did not reconnect";
  proxy.setMode(test::TcpProxy::Mode::kSilent);
  Result exec = boundedCall(
      proxy, std::chrono::seconds(20),
      [&] {
        auto lease = pool.acquire(std::chrono::seconds(1));
        return lease ? lease->exec("SELECT count(*) FROM items") : Result();
      },
      &took);
  EXPECT_EQ(exec.status().code(), Code::kUnavailable) << exec.status().message();
  EXPECT_LT(took, 1000 + 2000 + 1500) << exec.status().message();
}

// The statement ran, then its answer was lost with the connection: sent again only when it chose
// Retry::kOnReconnect; an INSERT (Retry::kNever) reports kUnavailable and is not run twice.
TEST(PostgresPool, ALostAnswerIsRetriedOnlyForStatementsThatChoseIt) {
  TestDatabase db("pool_lost_answer");
  test::TcpProxy proxy(db.port());
  PoolOptions options;
  options.size = 1;
  Pool pool(db.urlWithPort(proxy.port()), statements(), options, nullptr, "test");
  ASSERT_TRUE(migrate(pool, "test", migrations()).ok());
  ASSERT_TRUE(pool.run("insert_item", {std::string("warm"), std::string("1")}).ok());  // prepared now
  ASSERT_TRUE(pool.run("count_items", {}).ok());

  proxy.setMode(test::TcpProxy::Mode::kCutNextReply);
  Result read = pool.run("count_items", {});
  EXPECT_EQ(proxy.repliesCut(), 1);
  ASSERT_TRUE(read.ok()) << "a read whose answer was lost was not retried: " << read.status().message();
  EXPECT_EQ(read.integer(0, 0), 1);

  ASSERT_TRUE(pool.run("insert_item", {std::string("warm-2"), std::string("1")}).ok());  // prepared again
  proxy.setMode(test::TcpProxy::Mode::kCutNextReply);
  Result insert = pool.run("insert_item", {std::string("once"), std::string("1")});
  EXPECT_EQ(proxy.repliesCut(), 2);
  EXPECT_EQ(insert.status().code(), Code::kUnavailable) << insert.status().message();
  EXPECT_EQ(db.scalar("SELECT count(*) FROM items WHERE name = 'once'"), "1") << "it ran, once";
}

TEST(PostgresPool, AServerThatGoesSilentFailsTheConnectWithinTheConnectTimeout) {
  TestDatabase db("pool_silent_connect");
  test::TcpProxy proxy(db.port());
  proxy.setMode(test::TcpProxy::Mode::kSilent);
  PoolOptions options;
  options.connectTimeout = std::chrono::milliseconds(2000);
  Pool pool(db.urlWithPort(proxy.port()), statements(), options, nullptr, "test");
  int64_t took = 0;
  Result result = boundedCall(
      proxy, std::chrono::seconds(20), [&] { return pool.run("count_items", {}); }, &took);
  EXPECT_EQ(result.status().code(), Code::kUnavailable) << result.status().message();
  EXPECT_LT(took, 2000 + 1500) << result.status().message();
}

}  // namespace
}  // namespace mp::pg
