#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "common/postgres.h"
#include "orders/order_message.h"

namespace mp::billing {

// A validated order waiting to be stored, with the AMQP message_id that makes its insert idempotent.
struct PendingOrder {
  OrderMessage order;
  std::optional<std::string> messageId;  // none: stored once per delivery (docs/billing.md)
};

// One row of `orders` as GET /api/orders shows it.
struct StoredOrder {
  int64_t id = 0;
  std::string userId;
  int32_t numberOfItems = 0;
  std::string totalAmount;  // numeric as text, exact
  std::optional<std::string> messageId;
  std::string createdAt;  // RFC 3339, UTC
};

// What happened to a batch: all of it is either in `orders` now (new or duplicate) or refused one by
// one, or the database cannot take orders now and nothing was stored.
struct BatchResult {
  // kUnavailable: nothing stored, for a reason that is not about any one order (no connection,
  // privileges, read-only, disk full, a timeout behind a lock, a serialization failure or deadlock):
  // retry the whole batch later; `inserted` and `refused` are then empty.
  Status status;
  int64_t inserted = 0;         // new rows; the other accepted orders were already there
  std::vector<size_t> refused;  // indices PostgreSQL refused for good (not retried, dead-lettered)
};

// The `orders` schema, versioned for pg::migrate.
std::vector<pg::Migration> orderMigrations();

// INSERT of `rows` orders in one statement, skipping message_ids already stored:
// "INSERT INTO orders (...) VALUES ($1,$2,$3,$4),($5,...) ON CONFLICT (message_id) DO NOTHING".
std::string buildInsertSql(std::size_t rows);
// The parameters for buildInsertSql, four per order in the same order; a missing message_id is NULL.
pg::Params buildInsertParams(const std::vector<PendingOrder>& orders);

// Reads and writes billing's `orders` table through the shared pool. Thread-safe (each call leases
// its own connection).
class OrderStore {
 public:
  explicit OrderStore(pg::Pool& pool) : pool_(pool) {}

  // Stores the orders in one transaction (one multi-row statement). Only when PostgreSQL refuses the
  // batch's data (SQLSTATE class 22 or 23) is each order retried under a savepoint in one transaction, so
  // that one bad row cannot hold back the others; any other error makes the batch `unavailable`.
  BatchResult insertBatch(const std::vector<PendingOrder>& orders);

  // Newest first, at most `limit`. The database's failure (pg::Result::status()) when it cannot answer.
  StatusOr<std::vector<StoredOrder>> recent(int limit);

 private:
  BatchResult insertOneByOne(pg::Pool::Lease& lease, const std::vector<PendingOrder>& orders);

  pg::Pool& pool_;
};

}  // namespace mp::billing
