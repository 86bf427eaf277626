// The PostgreSQL pool and migrations against the real throw-away server from scripts/test.
#include "common/postgres.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "support/test_database.h"

namespace mp::pg {
namespace {

using test::TestDatabase;

std::vector<Statement> statements() {
  return {{"insert_item", "INSERT INTO items (name, qty) VALUES ($1, $2) RETURNING id", false},
          {"count_items", "SELECT count(*) FROM items", true},
          {"backend_pid", "SELECT pg_backend_pid()", true},
          {"broken", "SELECT FROM nowhere_at_all", true},
          {"prepared_names",
           "SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM pg_prepared_statements WHERE name "
           "LIKE $1",
           true, true}};
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
  ASSERT_EQ(migrate(pool, "test", migrations()), "");

  auto inserted = pool.run("insert_item", {std::string("a"), std::string("1")});
  ASSERT_TRUE(inserted.ok()) << inserted.message();
  EXPECT_EQ(inserted.rows(), 1);
  EXPECT_EQ(pool.run("insert_item", {std::string("a"), std::string("2")}).error(),
            ErrorKind::kUniqueViolation);
  EXPECT_EQ(pool.run("insert_item", {std::string("b"), std::string("0")}).error(),
            ErrorKind::kCheckViolation);
  EXPECT_EQ(pool.run("broken", {}).error(), ErrorKind::kQuery);
  EXPECT_EQ(pool.run("no_such_statement", {}).error(), ErrorKind::kQuery);
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
    ASSERT_TRUE(names.ok()) << names.message();
    EXPECT_EQ(names.text(0, 0), "backend_pid");
  }
}

TEST(PostgresPool, MigrationsAreVersionedAndRunOnce) {
  TestDatabase db("pool_migrations");
  Pool pool(db.url(), {}, PoolOptions{}, nullptr, "test");
  ASSERT_EQ(migrate(pool, "test", migrations()), "");
  ASSERT_EQ(migrate(pool, "test", migrations()), "");  // the CREATE TABLE would fail if run twice
  EXPECT_EQ(db.scalar("SELECT count(*) FROM schema_migrations WHERE component = 'test'"), "2");
  auto more = migrations();
  more.push_back({3, "column", "ALTER TABLE items ADD COLUMN note text"});
  ASSERT_EQ(migrate(pool, "test", more), "");
  EXPECT_EQ(db.scalar("SELECT max(version) FROM schema_migrations"), "3");
  // A failing migration is rolled back and reported with its version.
  more.push_back({4, "bad", "ALTER TABLE nowhere ADD COLUMN x int"});
  auto error = migrate(pool, "test", more);
  EXPECT_NE(error.find("migration 4"), std::string::npos) << error;
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
        ASSERT_TRUE(pid.ok()) << pid.message();
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
  EXPECT_EQ(first.error(), ErrorKind::kUnavailable);
  EXPECT_EQ(second.error(), ErrorKind::kUnavailable);
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  std::string reason;
  EXPECT_FALSE(pool.ping(&reason));
  EXPECT_FALSE(reason.empty());
}

}  // namespace
}  // namespace mp::pg
