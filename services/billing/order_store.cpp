#include "billing/order_store.h"

namespace mp::billing {
namespace {

constexpr auto kLeaseWait = std::chrono::milliseconds(2000);
// Not a pooled prepared statement: the pool prepares on connect, before migrations made the table.
constexpr const char* kRecentSql =
    "SELECT id, user_id, number_of_items, total_amount::text, message_id,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    " FROM orders ORDER BY id DESC LIMIT $1";

// Only a data or constraint error (SQLSTATE class 22 or 23) is about the orders themselves. Any other
// failure (no connection, 42501 privileges, 25006 read-only, 53100 disk full, 57014 timeout behind a lock,
// 40001/40P01) means the database cannot take orders now: every order of the batch waits and is retried.
bool cannotTakeOrdersNow(const pg::Result& result) {
  return !result.refusedTheData();
}

}  // namespace

std::vector<pg::Migration> orderMigrations() {
  return {
      {1, "orders table",
       "CREATE TABLE IF NOT EXISTS orders ("
       " id bigserial PRIMARY KEY,"
       " user_id text NOT NULL,"
       " number_of_items integer NOT NULL CHECK (number_of_items > 0),"
       " total_amount numeric(12,2) NOT NULL CHECK (total_amount >= 0),"
       " message_id text UNIQUE,"
       " created_at timestamptz NOT NULL DEFAULT now())"},
  };
}

std::string buildInsertSql(std::size_t rows) {
  std::string sql = "INSERT INTO orders (user_id, number_of_items, total_amount, message_id) VALUES ";
  sql.reserve(sql.size() + rows * 40 + 40);
  for (std::size_t i = 0; i < rows; ++i) {
    const std::size_t p = i * 4;
    sql += (i == 0 ? "($" : ",($") + std::to_string(p + 1) + ",$" + std::to_string(p + 2) + "::integer,$" +
           std::to_string(p + 3) + "::numeric,$" + std::to_string(p + 4) + ")";
  }
  // A redelivered message finds its message_id stored and is skipped; NULL ids never conflict.
  sql += " ON CONFLICT (message_id) DO NOTHING";
  return sql;
}

pg::Params buildInsertParams(const std::vector<PendingOrder>& orders) {
  pg::Params params;
  params.reserve(orders.size() * 4);
  for (const PendingOrder& pending : orders) {
    params.emplace_back(pending.order.userId);
    params.emplace_back(std::to_string(pending.order.numberOfItems));
    params.emplace_back(pending.order.totalAmountText());
    params.emplace_back(pending.messageId);
  }
  return params;
}

BatchResult OrderStore::insertBatch(const std::vector<PendingOrder>& orders) {
  BatchResult outcome;
  if (orders.empty()) {
    return outcome;
  }
  std::optional<pg::Pool::Lease> lease = pool_.acquire(kLeaseWait);
  if (!lease) {
    outcome.status = Status::unavailable("no database connection became free in time");
    return outcome;
  }
  // A single statement is its own transaction: all rows are committed together or none is.
  pg::Result result = lease->exec(buildInsertSql(orders.size()), buildInsertParams(orders));
  if (result.ok()) {
    outcome.inserted = result.affected();
    return outcome;
  }
  if (cannotTakeOrdersNow(result)) {
    outcome.status = Status::unavailable(result.status().message());
    return outcome;
  }
  return insertOneByOne(*lease, orders);
}

BatchResult OrderStore::insertOneByOne(pg::Pool::Lease& lease, const std::vector<PendingOrder>& orders) {
  BatchResult outcome;
  auto fail = [&](const pg::Result& result) {
    lease.exec("ROLLBACK");
    outcome = BatchResult{};
    outcome.status = Status::unavailable(result.status().message());
    return outcome;
  };
  pg::Result begin = lease.exec("BEGIN");
  if (!begin.ok()) {
    return fail(begin);
  }
  const std::string sql = buildInsertSql(1);
  for (std::size_t i = 0; i < orders.size(); ++i) {
    pg::Result savepoint = lease.exec("SAVEPOINT one_order");
    if (!savepoint.ok()) {
      return fail(savepoint);
    }
    pg::Result insert = lease.exec(sql, buildInsertParams({orders[i]}));
    if (insert.ok()) {
      outcome.inserted += insert.affected();
      continue;
    }
    if (cannotTakeOrdersNow(insert)) {
      return fail(insert);
    }
    outcome.refused.push_back(i);
    pg::Result back = lease.exec("ROLLBACK TO SAVEPOINT one_order");
    if (!back.ok()) {
      return fail(back);
    }
  }
  pg::Result commit = lease.exec("COMMIT");
  if (!commit.ok()) {
    // Whatever the reason, nothing of this transaction is stored: the batch goes back to the queue.
    return fail(commit);
  }
  return outcome;
}

StatusOr<std::vector<StoredOrder>> OrderStore::recent(int limit) {
  std::optional<pg::Pool::Lease> lease = pool_.acquire(kLeaseWait);
  if (!lease) {
    return Status::unavailable("no database connection became free in time");
  }
  pg::Result result = lease->exec(kRecentSql, {std::to_string(limit)});
  if (!result.ok()) {
    return result.status();
  }
  std::vector<StoredOrder> orders;
  for (int row = 0; row < result.rows(); ++row) {
    StoredOrder order;
    order.id = result.integer(row, 0);
    order.userId = result.text(row, 1);
    order.numberOfItems = static_cast<int32_t>(result.integer(row, 2));
    order.totalAmount = result.text(row, 3);
    if (!result.isNull(row, 4)) {
      order.messageId = result.text(row, 4);
    }
    order.createdAt = result.text(row, 5);
    orders.push_back(std::move(order));
  }
  return orders;
}

}  // namespace mp::billing
