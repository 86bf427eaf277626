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
#include "http/metrics.h"

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
// acknowledgement only after the commit, invalid messages rejected to the dead-letter queue. A batch the
// database cannot take now is held (unacknowledged) and retried with backoff, never handed back, so that
// outages do not use up the orders' delivery limit. Survives broker outages by reconnecting. Its loop runs on
// one thread (it owns the AMQP connection); consuming() may be read from any thread.
class OrderConsumer {
 public:
  // `unacked` (may be null) is kept at the number of deliveries in hand: read but not yet settled.
  OrderConsumer(ConsumerOptions options, OrderStore& store, pg::Pool& pool, ServiceMetrics& metrics,
                prometheus::Gauge* unacked = nullptr);

  // Runs until `stop` becomes true: migrates the schema, then consumes. When stopped with a batch in hand,
  // that batch is committed and acknowledged before returning, unless the database cannot take it: then
  // it goes back to the queue with the connection.
  void run(const std::atomic<bool>& stop);

  // True while connected to the broker and consuming (part of /readyz).
  bool consuming() const { return consuming_.load(); }

 private:
  enum class SessionEnd { kStopped, kBrokerLost };

  bool waitForDatabase(const std::atomic<bool>& stop);
  void setInHand(std::size_t deliveries);
  SessionEnd consumeOn(amqp::Connection& connection, const std::atomic<bool>& stop);
  amqp::Status collect(amqp::Consumer& consumer, const std::atomic<bool>& stop,
                       std::vector<amqp::Delivery>* batch);
  // Stores and settles one batch, holding it while the database cannot take it (until stored or stopped).
  amqp::Status settle(amqp::Consumer& consumer, const std::vector<amqp::Delivery>& batch,
                      const std::atomic<bool>& stop);
  // Parses deliveries into orders and their tags; invalid ones are rejected to the dead-letter queue.
  amqp::Status take(amqp::Consumer& consumer, const std::vector<amqp::Delivery>& deliveries,
                    std::vector<PendingOrder>* orders, std::vector<uint64_t>* tags);
  // Waits `delay` (or until stopped) serving the connection; deliveries that arrive meanwhile are taken.
  amqp::Status hold(amqp::Consumer& consumer, std::chrono::milliseconds delay, const std::atomic<bool>& stop,
                    std::vector<PendingOrder>* orders, std::vector<uint64_t>* tags);

  ConsumerOptions options_;
  OrderStore& store_;
  pg::Pool& pool_;
  bool migrated_ = false;
  std::atomic<bool> consuming_{false};
  prometheus::Counter* stored_;
  prometheus::Counter* duplicate_;
  prometheus::Counter* rejected_;
  prometheus::Counter* redeliveries_;
  prometheus::Counter* databaseRetries_;
  prometheus::Histogram* batchSize_;
  prometheus::Gauge* unacked_;
};

}  // namespace mp::billing
