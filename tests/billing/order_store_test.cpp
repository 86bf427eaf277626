// OrderStore: the batch INSERT it builds, and what it does on the real PostgreSQL: idempotency by
// message_id, NULL ids stored per delivery, one bad row refused without holding back the others.
#include "billing/order_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <future>
#include <thread>

#include "support/test_database.h"

namespace mp::billing {
namespace {

PendingOrder order(const std::string& user, int items, int64_t cents, std::optional<std::string> id) {
  PendingOrder pending;
  pending.order.userId = user;
  pending.order.numberOfItems = items;
  pending.order.totalCents = cents;
  pending.messageId = std::move(id);
  return pending;
}

TEST(OrderStoreSql, OneStatementWithFourParametersPerRow) {
  EXPECT_EQ(buildInsertSql(1),
            "INSERT INTO orders (user_id, number_of_items, total_amount, message_id) VALUES "
            "($1,$2::integer,$3::numeric,$4) ON CONFLICT (message_id) DO NOTHING");
  const std::string three = buildInsertSql(3);
  EXPECT_NE(three.find("($1,$2::integer,$3::numeric,$4),($5,$6::integer,$7::numeric,$8),"
                       "($9,$10::integer,$11::numeric,$12) ON CONFLICT"),
            std::string::npos)
      << three;
  EXPECT_EQ(buildInsertSql(1000).find("$4001"), std::string::npos);
  EXPECT_NE(buildInsertSql(1000).find("$4000)"), std::string::npos);
}

TEST(OrderStoreSql, ParametersAreExactTextAndNullForMissingIds) {
  pg::Params params = buildInsertParams({order("3", 5, 18000, std::nullopt), order("u", 1, 7, "m-1")});
  ASSERT_EQ(params.size(), 8u);
  EXPECT_EQ(params[0].value_or("?"), "3");
  EXPECT_EQ(params[1].value_or("?"), "5");
  EXPECT_EQ(params[2].value_or("?"), "180.00");
  EXPECT_FALSE(params[3].has_value());
  EXPECT_EQ(params[6].value_or("?"), "0.07");
  EXPECT_EQ(params[7].value_or("?"), "m-1");
}

class OrderStoreDatabaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { database_ = new test::TestDatabase("billing_store_test"); }
  static void TearDownTestSuite() {
    delete database_;
    database_ = nullptr;
  }

  void SetUp() override {
    pool_ = std::make_unique<pg::Pool>(database_->url(), std::vector<pg::Statement>{}, pg::PoolOptions{},
                                       nullptr, "billing-test");
    ASSERT_TRUE(pg::migrate(*pool_, "billing", orderMigrations()).ok());
    database_->scalar("TRUNCATE orders");
    store_ = std::make_unique<OrderStore>(*pool_);
  }

  static long count(const std::string& sql) { return std::stol(database_->scalar(sql)); }

  // Until some session of the test database waits on a lock (bounded: 10 s).
  static void waitUntilWaitingOnALock() {
    for (int i = 0; i < 1000; ++i) {
      if (count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = "
                "current_database()") > 0) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "no session started waiting on a lock";
  }

  static test::TestDatabase* database_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<OrderStore> store_;
};

test::TestDatabase* OrderStoreDatabaseTest::database_ = nullptr;

TEST_F(OrderStoreDatabaseTest, RedeliveredMessageIdsAreStoredOnce) {
  std::vector<PendingOrder> batch;
  for (int i = 0; i < 1000; ++i) {
    batch.push_back(order("user-" + std::to_string(i % 7), 1 + i % 3, 1999, "id-" + std::to_string(i)));
  }
  BatchResult first = store_->insertBatch(batch);
  ASSERT_TRUE(first.status.ok()) << first.status.message();
  EXPECT_EQ(first.inserted, 1000);

  // The same batch again (a redelivery after a crash), plus a duplicate inside one batch, plus two new.
  batch.push_back(order("x", 1, 1, "id-0"));
  batch.push_back(order("x", 1, 1, "new-1"));
  batch.push_back(order("x", 1, 1, "new-1"));
  batch.push_back(order("x", 1, 1, "new-2"));
  BatchResult second = store_->insertBatch(batch);
  ASSERT_TRUE(second.status.ok()) << second.status.message();
  EXPECT_EQ(second.inserted, 2);
  EXPECT_TRUE(second.refused.empty());
  EXPECT_EQ(count("SELECT count(*) FROM orders"), 1002);
  EXPECT_EQ(database_->scalar("SELECT sum(total_amount)::text FROM orders"), "19990.02");
}

TEST_F(OrderStoreDatabaseTest, MessagesWithoutIdAreStoredOncePerDelivery) {
  BatchResult result =
      store_->insertBatch({order("3", 5, 18000, std::nullopt), order("3", 5, 18000, std::nullopt)});
  ASSERT_TRUE(result.status.ok());
  EXPECT_EQ(result.inserted, 2);
  EXPECT_EQ(count("SELECT count(*) FROM orders WHERE message_id IS NULL"), 2);
}

TEST_F(OrderStoreDatabaseTest, ARowTheDatabaseRefusesDoesNotHoldBackTheOthers) {
  // Validation keeps such rows out; the store must still cope if one slips through (CHECK violation).
  BatchResult result = store_->insertBatch(
      {order("a", 1, 100, "ok-1"), order("b", 0, 100, "bad"), order("c", 2, 200, "ok-2")});
  ASSERT_TRUE(result.status.ok()) << result.status.message();
  EXPECT_EQ(result.inserted, 2);
  ASSERT_EQ(result.refused.size(), 1u);
  EXPECT_EQ(result.refused[0], 1u);
  EXPECT_EQ(database_->scalar("SELECT string_agg(message_id, ',' ORDER BY id) FROM orders"), "ok-1,ok-2");
}

TEST_F(OrderStoreDatabaseTest, ADataErrorRefusesOnlyItsRow) {
  // 22003 numeric_value_out_of_range: numeric(12,2) holds less than 10^10.
  BatchResult result =
      store_->insertBatch({order("a", 1, 100, "ok-1"), order("big", 1, 100'000'000'000'000, "too-big"),
                           order("c", 2, 200, "ok-2")});
  ASSERT_TRUE(result.status.ok()) << result.status.message();
  EXPECT_EQ(result.inserted, 2);
  ASSERT_EQ(result.refused.size(), 1u);
  EXPECT_EQ(result.refused[0], 1u);
}

// A database error that is not about one row (SQLSTATE outside classes 22 and 23) must never refuse an
// order: the whole batch is reported "cannot take orders now" and stored once the cause is gone.
class OrderStoreServerErrorTest : public OrderStoreDatabaseTest {
 protected:
  // The test database's URL with a libpq `options` value (server settings for each connection).
  static std::string withOptions(const std::string& url, const std::string& options) {
    std::string encoded;
    for (char c : options) {
      encoded += c == ' ' ? "%20" : c == '=' ? "%3D" : std::string(1, c);
    }
    return url + "?options=" + encoded;
  }

  // Runs `batchOf3` through `store` while the fault holds, then again after `clear`.
  void expectNotNowThenStored(OrderStore& store, const std::string& sqlState,
                              const std::function<void()>& clear) {
    const std::vector<PendingOrder> batch = {order("a", 1, 100, sqlState + "-1"),
                                             order("b", 2, 200, sqlState + "-2"),
                                             order("c", 3, 300, sqlState + "-3")};
    BatchResult during = store.insertBatch(batch);
    EXPECT_EQ(during.status.code(), Code::kUnavailable)
        << sqlState << ": the batch was not reported \"cannot take orders now\"";
    EXPECT_TRUE(during.refused.empty())
        << sqlState << ": " << during.refused.size() << " valid orders refused (they would be dead-lettered)";
    clear();
    BatchResult after = store.insertBatch(batch);
    EXPECT_TRUE(after.status.ok()) << after.status.message();
    EXPECT_EQ(after.inserted, 3) << "some were stored during the fault, or are still missing";
  }

  // An ordinary login role with the table's privileges except INSERT (the reproduction in issue 15).
  std::string role_ = "billing_store_writer_" + std::to_string(getpid());
};

TEST_F(OrderStoreServerErrorTest, InsufficientPrivilege42501IsNotARowError) {
  database_->scalar("DROP ROLE IF EXISTS " + role_ + "; CREATE ROLE " + role_ +
                    " LOGIN; GRANT SELECT, INSERT, UPDATE ON orders TO " + role_ +
                    "; GRANT USAGE ON SEQUENCE orders_id_seq TO " + role_ +
                    "; REVOKE INSERT ON orders FROM " + role_);
  std::string url = database_->url();
  url.replace(url.find("postgres@"), std::string("postgres@").size(), role_ + "@");
  pg::Pool pool(url, {}, pg::PoolOptions{}, nullptr, "billing-test");
  OrderStore store(pool);
  expectNotNowThenStored(store, "42501", [&] { database_->scalar("GRANT INSERT ON orders TO " + role_); });
  database_->scalar("REVOKE ALL ON orders FROM " + role_ + "; REVOKE ALL ON SEQUENCE orders_id_seq FROM " +
                    role_ + "; DROP ROLE " + role_);
}

TEST_F(OrderStoreServerErrorTest, ReadOnlyTransaction25006IsNotARowError) {
  // What a primary demoted to a standby (or a read-only switch) gives a client that kept its connection.
  database_->scalar("DROP ROLE IF EXISTS " + role_ + "; CREATE ROLE " + role_ +
                    " LOGIN; GRANT ALL ON orders TO " + role_ + "; GRANT ALL ON SEQUENCE orders_id_seq TO " +
                    role_ + "; ALTER ROLE " + role_ + " SET default_transaction_read_only = on");
  std::string url = database_->url();
  url.replace(url.find("postgres@"), std::string("postgres@").size(), role_ + "@");
  pg::Pool pool(url, {}, pg::PoolOptions{}, nullptr, "billing-test");
  OrderStore store(pool);
  expectNotNowThenStored(store, "25006", [&] {
    database_->scalar("ALTER ROLE " + role_ + " RESET default_transaction_read_only");
    // The setting is read at connection start: the pool's connection must start anew.
    database_->scalar("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role_ +
                      "'");
    for (int i = 0;
         i < 500 && count("SELECT count(*) FROM pg_stat_activity WHERE usename = '" + role_ + "'") > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pool.ping();  // finds the connection closed; the next statement connects anew
  });
  database_->scalar("REVOKE ALL ON orders FROM " + role_ + "; REVOKE ALL ON SEQUENCE orders_id_seq FROM " +
                    role_ + "; DROP ROLE " + role_);
}

TEST_F(OrderStoreServerErrorTest, DiskFull53100IsNotARowError) {
  // Test seam: PostgreSQL cannot be made to run out of disk on demand here, so a trigger raises the very
  // SQLSTATE (53100 disk_full) the server raises when a relation cannot be extended.
  database_->scalar(
      "CREATE FUNCTION seam_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
      "'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$; "
      "CREATE TRIGGER seam_disk_full BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION seam_disk_full()");
  expectNotNowThenStored(*store_, "53100", [&] {
    database_->scalar("DROP TRIGGER seam_disk_full ON orders; DROP FUNCTION seam_disk_full()");
  });
}

TEST_F(OrderStoreServerErrorTest, StatementTimeout57014BehindALockIsNotARowError) {
  pg::Pool pool(withOptions(database_->url(), "-c statement_timeout=300"), {}, pg::PoolOptions{}, nullptr,
                "billing-test");
  OrderStore store(pool);
  test::SqlSession locker(database_->url());
  locker.scalar("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
  expectNotNowThenStored(store, "57014", [&] { locker.scalar("ROLLBACK"); });
}

TEST_F(OrderStoreServerErrorTest, SerializationFailure40001IsNotARowError) {
  pg::Pool pool(withOptions(database_->url(), "-c default_transaction_isolation=serializable"), {},
                pg::PoolOptions{}, nullptr, "billing-test");
  OrderStore store(pool);
  // Another transaction inserts one of the batch's message_ids and commits while the batch waits on it: the
  // conflicting row is not in the batch's snapshot, so ON CONFLICT cannot decide and PostgreSQL gives 40001.
  test::SqlSession other(database_->url());
  other.scalar(
      "BEGIN; INSERT INTO orders (user_id, number_of_items, total_amount, message_id) VALUES ('x', 1, 1, "
      "'40001-2')");
  auto during = std::async(std::launch::async, [&] {
    return store.insertBatch({order("a", 1, 100, "40001-1"), order("b", 2, 200, "40001-2")});
  });
  waitUntilWaitingOnALock();
  other.scalar("COMMIT");
  BatchResult result = during.get();
  EXPECT_EQ(result.status.code(), Code::kUnavailable)
      << "40001: the batch was not reported \"cannot take orders now\"";
  EXPECT_TRUE(result.refused.empty());
  EXPECT_NE(result.status.message().find("serialize"), std::string::npos) << result.status.message();
}

TEST_F(OrderStoreServerErrorTest, Deadlock40P01IsNotARowError) {
  test::SqlSession other(database_->url());
  // The other side waits long before checking for a deadlock, so the batch's side is the one aborted.
  other.scalar(
      "SET deadlock_timeout = '60s'; BEGIN; INSERT INTO orders (user_id, number_of_items, "
      "total_amount, message_id) VALUES ('x', 1, 1, '40P01-2')");
  auto during = std::async(std::launch::async, [&] {
    return store_->insertBatch({order("a", 1, 100, "40P01-1"), order("b", 2, 200, "40P01-2")});
  });
  waitUntilWaitingOnALock();
  // The batch holds 40P01-1 and waits for 40P01-2; the other transaction now wants 40P01-1.
  other.start(
      "INSERT INTO orders (user_id, number_of_items, total_amount, message_id) VALUES ('x', 1, 1, "
      "'40P01-1')");
  BatchResult result = during.get();
  EXPECT_EQ(other.finish(), "");
  other.scalar("ROLLBACK");
  EXPECT_EQ(result.status.code(), Code::kUnavailable)
      << "40P01: the batch was not reported \"cannot take orders now\"";
  EXPECT_TRUE(result.refused.empty());
  EXPECT_NE(result.status.message().find("deadlock"), std::string::npos) << result.status.message();
}

TEST_F(OrderStoreDatabaseTest, RecentIsNewestFirstWithExactAmounts) {
  ASSERT_TRUE(
      store_->insertBatch({order("a", 1, 1, "1"), order("b", 2, 250, std::nullopt), order("c", 3, 99, "3")})
          .status.ok());
  auto recent = store_->recent(2);
  ASSERT_TRUE(recent.ok()) << recent.status().message();
  const std::vector<StoredOrder>& orders = *recent;
  ASSERT_EQ(orders.size(), 2u);
  EXPECT_EQ(orders[0].userId, "c");
  EXPECT_EQ(orders[0].totalAmount, "0.99");
  EXPECT_EQ(orders[0].messageId.value_or(""), "3");
  EXPECT_EQ(orders[1].totalAmount, "2.50");
  EXPECT_FALSE(orders[1].messageId.has_value());
  EXPECT_EQ(orders[1].createdAt.back(), 'Z');
}

TEST_F(OrderStoreDatabaseTest, UnreachableDatabaseIsReportedAsUnavailable) {
  pg::PoolOptions options;
  options.connectTimeout = std::chrono::milliseconds(1000);
  pg::Pool deadPool("postgresql://postgres@127.0.0.1:1/none", {}, options, nullptr, "billing-test");
  OrderStore deadStore(deadPool);
  BatchResult result = deadStore.insertBatch({order("a", 1, 1, "x")});
  EXPECT_EQ(result.status.code(), Code::kUnavailable);
  EXPECT_FALSE(result.status.message().empty());
}

}  // namespace
}  // namespace mp::billing
