#include "billing/order_consumer.h"

#include <algorithm>

#include "base/log.h"
#include "base/retry.h"
#include "orders/billing_topology.h"

namespace mp::billing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long one wait for the first delivery of a batch lasts, so that a stop request is seen quickly.
constexpr milliseconds kIdleWait{200};
// Between two attempts to store a batch the database could not take: capped exponential.
constexpr milliseconds kFirstRetry{100};
constexpr milliseconds kMaxRetry{3000};

}  // namespace

OrderConsumer::OrderConsumer(ConsumerOptions options, OrderStore& store, pg::Pool& pool,
                             ServiceMetrics& metrics, prometheus::Gauge* unacked)
    : options_(std::move(options)), store_(store), pool_(pool), unacked_(unacked) {
  auto& messages =
      prometheus::BuildCounter()
          .Name("billing_messages_total")
          .Help("Billing messages handled: stored, duplicate (message_id already stored), rejected.")
          .Register(metrics.registry());
  stored_ = &messages.Add({{"outcome", "stored"}});
  duplicate_ = &messages.Add({{"outcome", "duplicate"}});
  rejected_ = &messages.Add({{"outcome", "rejected"}});
  redeliveries_ = &prometheus::BuildCounter()
                       .Name("billing_redeliveries_total")
                       .Help("Deliveries the broker had delivered before (a crash, a lost connection).")
                       .Register(metrics.registry())
                       .Add({});
  databaseRetries_ = &prometheus::BuildCounter()
                          .Name("billing_database_retries_total")
                          .Help(
                              "Attempts to store a batch that found the database unable to take orders; the "
                              "batch is held and retried, not handed back.")
                          .Register(metrics.registry())
                          .Add({});
  batchSize_ =
      &prometheus::BuildHistogram()
           .Name("billing_batch_size")
           .Help("Deliveries per stored batch.")
           .Register(metrics.registry())
           .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000});
}

void OrderConsumer::run(const std::atomic<bool>& stop) {
  // Spaces out sessions that fail before consuming (e.g. the queue exists with other arguments), which
  // would otherwise reconnect in a tight loop.
  Backoff sessionBackoff(milliseconds(100), milliseconds(3000));
  while (!stop.load()) {
    // Database first: taking messages that cannot be stored would only bounce them back to the queue.
    if (!waitForDatabase(stop)) {
      break;
    }
    std::unique_ptr<amqp::Connection> connection =
        amqp::Connection::openWithRetry(options_.broker, stop, [](const amqp::Status& status) {
          log::warn("amqp_connect_failed", {{"reason", status.message()}});
        });
    if (!connection) {
      break;
    }
    const SessionEnd end = consumeOn(*connection, stop);
    // Whatever was in hand is settled, or goes back to the queue with the connection.
    setInHand(0);
    const bool consumed = consuming_.exchange(false);
    if (consumed) {
      sessionBackoff.reset();
    } else if (end == SessionEnd::kBrokerLost) {
      sleepUnlessStopped(sessionBackoff.nextDelay(), stop);
    }
  }
  consuming_ = false;
}

void OrderConsumer::setInHand(std::size_t deliveries) {
  if (unacked_ != nullptr) {
    unacked_->Set(static_cast<double>(deliveries));
  }
}

bool OrderConsumer::waitForDatabase(const std::atomic<bool>& stop) {
  Backoff backoff(milliseconds(100), milliseconds(3000));
  bool reported = false;
  return retryUntilStopped(stop, backoff, [&](milliseconds) {
    Status database = migrated_ ? pool_.ping() : pg::migrate(pool_, "billing", orderMigrations());
    migrated_ = migrated_ || database.ok();
    if (database.ok()) {
      if (reported) {
        log::info("database_available");
      }
      return true;
    }
    if (!reported) {
      log::warn("database_unavailable", {{"reason", database.message()}});
      reported = true;
    }
    return false;
  });
}

OrderConsumer::SessionEnd OrderConsumer::consumeOn(amqp::Connection& connection,
                                                   const std::atomic<bool>& stop) {
  amqp::Status status =
      amqp::declareBillingTopology(connection, amqp::BillingTopology::forQueue(options_.queue));
  amqp::Consumer consumer(connection);
  if (status.ok()) {
    const auto prefetch = static_cast<uint16_t>(std::min<std::size_t>(options_.batchSize * 2, 65535));
    status = consumer.start(options_.queue, prefetch);
  }
  if (!status.ok()) {
    log::warn("amqp_consume_failed", {{"queue", options_.queue}, {"reason", status.message()}});
    return SessionEnd::kBrokerLost;
  }
  consuming_ = true;
  log::info("consuming", {{"queue", options_.queue}, {"batch_size", options_.batchSize}});
  std::vector<amqp::Delivery> batch;
  while (!stop.load()) {
    status = collect(consumer, stop, &batch);
    if (!status.ok()) {
      // Deliveries in hand were never acknowledged: the broker requeues them.
      log::warn("amqp_connection_lost", {{"reason", status.message()}});
      return SessionEnd::kBrokerLost;
    }
    if (batch.empty()) {
      continue;
    }
    setInHand(batch.size());
    status = settle(consumer, batch, stop);
    setInHand(0);
    if (!status.ok()) {
      log::warn("amqp_connection_lost", {{"reason", status.message()}});
      return SessionEnd::kBrokerLost;
    }
  }
  return SessionEnd::kStopped;
}

amqp::Status OrderConsumer::collect(amqp::Consumer& consumer, const std::atomic<bool>& stop,
                                    std::vector<amqp::Delivery>* batch) {
  batch->clear();
  amqp::Delivery delivery;
  bool received = false;
  amqp::Status status = consumer.next(kIdleWait, &delivery, &received);
  if (!status.ok() || !received) {
    return status;
  }
  batch->push_back(std::move(delivery));
  const Clock::time_point deadline = Clock::now() + options_.maxLinger;
  // A stop request ends collection, not the batch: what is in hand is stored and acknowledged.
  while (batch->size() < options_.batchSize && !stop.load()) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left <= milliseconds(0)) {
      break;
    }
    status = consumer.next(std::min(left, options_.pause), &delivery, &received);
    if (!status.ok()) {
      batch->clear();
      return status;
    }
    if (!received) {
      break;
    }
    batch->push_back(std::move(delivery));
  }
  return okStatus();
}

amqp::Status OrderConsumer::take(amqp::Consumer& consumer, const std::vector<amqp::Delivery>& deliveries,
                                 std::vector<PendingOrder>* orders, std::vector<uint64_t>* tags) {
  for (const amqp::Delivery& delivery : deliveries) {
    if (delivery.redelivered) {
      redeliveries_->Increment();
    }
    StatusOr<OrderMessage> order = parseOrderMessage(delivery.body);
    if (!order.ok()) {
      // Invalid now means invalid forever: dead-letter it at once rather than let it come back.
      log::warn("order_rejected",
                {{"reason", order.status().message()}, {"message_id", delivery.messageId.value_or("")}});
      rejected_->Increment();
      amqp::Status status = consumer.reject(delivery.tag, false);
      if (!status.ok()) {
        return status;
      }
      continue;
    }
    PendingOrder pending;
    pending.order = std::move(*order);
    // An empty message_id is no idempotency key: treated like a missing one.
    if (delivery.messageId && !delivery.messageId->empty()) {
      pending.messageId = delivery.messageId;
    }
    orders->push_back(std::move(pending));
    tags->push_back(delivery.tag);
  }
  return okStatus();
}

amqp::Status OrderConsumer::hold(amqp::Consumer& consumer, milliseconds delay, const std::atomic<bool>& stop,
                                 std::vector<PendingOrder>* orders, std::vector<uint64_t>* tags) {
  const Clock::time_point until = Clock::now() + delay;
  while (!stop.load()) {
    const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
    if (left <= milliseconds(0)) {
      break;
    }
    // Waiting on the consumer keeps heartbeats going; what the prefetch still brings joins the held batch.
    amqp::Delivery delivery;
    bool received = false;
    amqp::Status status = consumer.next(std::min(left, kIdleWait), &delivery, &received);
    if (!status.ok()) {
      return status;
    }
    if (received) {
      status = take(consumer, {delivery}, orders, tags);
      if (!status.ok()) {
        return status;
      }
      setInHand(orders->size());
    }
  }
  return okStatus();
}

amqp::Status OrderConsumer::settle(amqp::Consumer& consumer, const std::vector<amqp::Delivery>& batch,
                                   const std::atomic<bool>& stop) {
  std::vector<PendingOrder> orders;
  std::vector<uint64_t> tags;
  orders.reserve(batch.size());
  amqp::Status taken = take(consumer, batch, &orders, &tags);
  if (!taken.ok()) {
    return taken;
  }
  batchSize_->Observe(static_cast<double>(batch.size()));
  if (orders.empty()) {
    return okStatus();
  }

  // The database cannot take orders now (down, read-only, locked, out of disk, no privilege): the batch
  // is held unacknowledged and retried. Handing it back would count a delivery against each order's
  // delivery limit on every attempt, until valid orders were dead-lettered.
  Backoff retry(kFirstRetry, kMaxRetry);
  BatchResult result = store_.insertBatch(orders);
  for (bool reported = false; !result.status.ok(); result = store_.insertBatch(orders)) {
    databaseRetries_->Increment();
    if (!reported) {
      log::warn("database_cannot_take_orders",
                {{"reason", result.status.message()}, {"held", orders.size()}});
      reported = true;
    }
    amqp::Status status = hold(consumer, retry.nextDelay(), stop, &orders, &tags);
    if (!status.ok()) {
      return status;  // the broker returns what was held with the connection
    }
    if (stop.load()) {
      log::warn("stopped_with_orders_held", {{"held", orders.size()}, {"reason", result.status.message()}});
      return okStatus();  // they go back to the queue when the connection closes
    }
  }
  std::vector<bool> refused(orders.size(), false);
  for (std::size_t index : result.refused) {
    refused[index] = true;
    log::error("order_refused_by_database", {{"message_id", orders[index].messageId.value_or("")}});
    rejected_->Increment();
    amqp::Status status = consumer.reject(tags[index], false);
    if (!status.ok()) {
      return status;
    }
  }
  stored_->Increment(static_cast<double>(result.inserted));
  duplicate_->Increment(static_cast<double>(orders.size() - result.refused.size() - result.inserted));
  // Committed: one multiple-ack settles the batch (rejected tags are already settled). Held deliveries
  // arrived in tag order, so every unsettled tag is <= the last one kept.
  for (std::size_t i = orders.size(); i-- > 0;) {
    if (!refused[i]) {
      return consumer.ack(tags[i], true);
    }
  }
  return okStatus();
}

}  // namespace mp::billing
