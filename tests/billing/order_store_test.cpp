// OrderStore: the batch INSERT it builds, and what it does on the real PostgreSQL: idempotency by
// message_id, NULL ids stored per delivery, one bad row refused without holding back the others.
#include "billing/order_store.h"

#include <gtest/gtest.h>

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
    ASSERT_EQ(pg::migrate(*pool_, "billing", orderMigrations()), "");
    database_->scalar("TRUNCATE orders");
    store_ = std::make_unique<OrderStore>(*pool_);
  }

  static long count(const std::string& sql) { return std::stol(database_->scalar(sql)); }

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
  ASSERT_FALSE(first.unavailable) << first.message;
  EXPECT_EQ(first.inserted, 1000);

  // The same batch again (a redelivery after a crash), plus a duplicate inside one batch, plus two new.
  batch.push_back(order("x", 1, 1, "id-0"));
  batch.push_back(order("x", 1, 1, "new-1"));
  batch.push_back(order("x", 1, 1, "new-1"));
  batch.push_back(order("x", 1, 1, "new-2"));
  BatchResult second = store_->insertBatch(batch);
  ASSERT_FALSE(second.unavailable) << second.message;
  EXPECT_EQ(second.inserted, 2);
  EXPECT_TRUE(second.refused.empty());
  EXPECT_EQ(count("SELECT count(*) FROM orders"), 1002);
  EXPECT_EQ(database_->scalar("SELECT sum(total_amount)::text FROM orders"), "19990.02");
}

TEST_F(OrderStoreDatabaseTest, MessagesWithoutIdAreStoredOncePerDelivery) {
  BatchResult result =
      store_->insertBatch({order("3", 5, 18000, std::nullopt), order("3", 5, 18000, std::nullopt)});
  ASSERT_FALSE(result.unavailable);
  EXPECT_EQ(result.inserted, 2);
  EXPECT_EQ(count("SELECT count(*) FROM orders WHERE message_id IS NULL"), 2);
}

TEST_F(OrderStoreDatabaseTest, ARowTheDatabaseRefusesDoesNotHoldBackTheOthers) {
  // Validation keeps such rows out; the store must still cope if one slips through (CHECK violation).
  BatchResult result = store_->insertBatch(
      {order("a", 1, 100, "ok-1"), order("b", 0, 100, "bad"), order("c", 2, 200, "ok-2")});
  ASSERT_FALSE(result.unavailable) << result.message;
  EXPECT_EQ(result.inserted, 2);
  ASSERT_EQ(result.refused.size(), 1u);
  EXPECT_EQ(result.refused[0], 1u);
  EXPECT_EQ(database_->scalar("SELECT string_agg(message_id, ',' ORDER BY id) FROM orders"), "ok-1,ok-2");
}

TEST_F(OrderStoreDatabaseTest, RecentIsNewestFirstWithExactAmounts) {
  ASSERT_FALSE(
      store_->insertBatch({order("a", 1, 1, "1"), order("b", 2, 250, std::nullopt), order("c", 3, 99, "3")})
          .unavailable);
  std::vector<StoredOrder> orders;
  std::string reason;
  ASSERT_TRUE(store_->recent(2, &orders, &reason)) << reason;
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
  EXPECT_TRUE(result.unavailable);
  EXPECT_FALSE(result.message.empty());
}

}  // namespace
}  // namespace mp::billing
