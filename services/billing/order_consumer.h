#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "billing/order_store.h"
#include "common/amqp_connection.h"
#include "common/amqp_consumer.h"
#include "common/metrics.h"

namespace mp::billing {

struct ConsumerOptions {
  amqp::ConnectionSettings broker;
  std::string queue = "billing_queue";
  // Deliveries stored per transaction. The prefetch is twice this, so the next batch is already on its way
  // while one is being committed.
  std::size_t batchSize = 500;
  // Once a batch has its first delivery, it waits at most this long for more, and stops at a pause.
  std::chrono::milliseconds maxLinger{50};
  std::chrono::milliseconds pause{5};
};

// Moves orders from the billing queue into `orders`: batches of deliveries, one transaction per batch,
// acknowledgement only after the commit, invalid messages rejected to the dead-letter queue. Survives
// broker and database outages by reconnecting. Its loop runs on one thread (it owns the AMQP
// connection); consuming() may be read from any thread.
class OrderConsumer {
 public:
  OrderConsumer(ConsumerOptions options, OrderStore& store, pg::Pool& pool, ServiceMetrics& metrics);

  // Runs until `stop` becomes true: migrates the schema, then consumes. When stopped with a batch in hand,
  // that batch is committed and acknowledged before returning.
  void run(const std::atomic<bool>& stop);

  // True while connected to the broker and consuming (part of /readyz).
  bool consuming() const { return consuming_.load(); }

 private:
  enum class SessionEnd { kStopped, kBrokerLost, kDatabaseLost };

  bool waitForDatabase(const std::atomic<bool>& stop);
  SessionEnd consumeOn(amqp::Connection& connection, const std::atomic<bool>& stop);
  amqp::Status collect(amqp::Consumer& consumer, const std::atomic<bool>& stop,
                       std::vector<amqp::Delivery>* batch);
  // Stores and settles one batch. Sets *databaseLost when nothing could be stored.
  amqp::Status settle(amqp::Consumer& consumer, const std::vector<amqp::Delivery>& batch, bool* databaseLost);

  ConsumerOptions options_;
  OrderStore& store_;
  pg::Pool& pool_;
  bool migrated_ = false;
  std::atomic<bool> consuming_{false};
  prometheus::Counter* stored_;
  prometheus::Counter* duplicate_;
  prometheus::Counter* rejected_;
  prometheus::Histogram* batchSize_;
};

}  // namespace mp::billing
