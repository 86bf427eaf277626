#include "billing/order_consumer.h"

#include <algorithm>

#include "common/backoff.h"
#include "common/billing_topology.h"
#include "common/log.h"

namespace mp::billing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long one wait for the first delivery of a batch lasts, so that a stop request is seen quickly.
constexpr milliseconds kIdleWait{200};

}  // namespace

OrderConsumer::OrderConsumer(ConsumerOptions options, OrderStore& store, pg::Pool& pool,
                             ServiceMetrics& metrics)
    : options_(std::move(options)), store_(store), pool_(pool) {
  auto& messages =
      prometheus::BuildCounter()
          .Name("billing_messages_total")
          .Help("Billing messages handled: stored, duplicate (message_id already stored), rejected.")
          .Register(metrics.registry());
  stored_ = &messages.Add({{"outcome", "stored"}});
  duplicate_ = &messages.Add({{"outcome", "duplicate"}});
  rejected_ = &messages.Add({{"outcome", "rejected"}});
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
    const bool consumed = consuming_.exchange(false);
    if (consumed) {
      sessionBackoff.reset();
    } else if (end == SessionEnd::kBrokerLost) {
      amqp::sleepUnlessStopped(sessionBackoff.nextDelay(), stop);
    }
    if (end == SessionEnd::kDatabaseLost) {
      // Closing the connection returns the prefetched deliveries too: nothing is taken until the database
      // answers again.
      connection.reset();
    }
  }
  consuming_ = false;
}

bool OrderConsumer::waitForDatabase(const std::atomic<bool>& stop) {
  Backoff backoff(milliseconds(100), milliseconds(3000));
  bool reported = false;
  while (!stop.load()) {
    std::string reason;
    if (!migrated_) {
      reason = pg::migrate(pool_, "billing", orderMigrations());
      migrated_ = reason.empty();
    } else if (!pool_.ping(&reason) && reason.empty()) {
      reason = "database unavailable";
    }
    if (reason.empty()) {
      if (reported) {
        log::info("database_available");
      }
      return true;
    }
    if (!reported) {
      log::warn("database_unavailable", {{"reason", reason}});
      reported = true;
    }
    amqp::sleepUnlessStopped(backoff.nextDelay(), stop);
  }
  return false;
}

OrderConsumer::SessionEnd OrderConsumer::consumeOn(amqp::Connection& connection,
                                                   const std::atomic<bool>& stop) {
  amqp::Status status =
      amqp::declareBillingTopology(connection, amqp::BillingTopology::forQueue(options_.queue));
  amqp::Consumer consumer(connection);
  if (status.isOk()) {
    const auto prefetch = static_cast<uint16_t>(std::min<std::size_t>(options_.batchSize * 2, 65535));
    status = consumer.start(options_.queue, prefetch);
  }
  if (!status.isOk()) {
    log::warn("amqp_consume_failed", {{"queue", options_.queue}, {"reason", status.message()}});
    return SessionEnd::kBrokerLost;
  }
  consuming_ = true;
  log::info("consuming", {{"queue", options_.queue}, {"batch_size", options_.batchSize}});
  std::vector<amqp::Delivery> batch;
  while (!stop.load()) {
    status = collect(consumer, stop, &batch);
    if (!status.isOk()) {
      // Deliveries in hand were never acknowledged: the broker requeues them.
      log::warn("amqp_connection_lost", {{"reason", status.message()}});
      return SessionEnd::kBrokerLost;
    }
    if (batch.empty()) {
      continue;
    }
    bool databaseLost = false;
    status = settle(consumer, batch, &databaseLost);
    if (databaseLost) {
      return SessionEnd::kDatabaseLost;
    }
    if (!status.isOk()) {
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
  if (!status.isOk() || !received) {
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
    if (!status.isOk()) {
      batch->clear();
      return status;
    }
    if (!received) {
      break;
    }
    batch->push_back(std::move(delivery));
  }
  return amqp::Status::ok();
}

amqp::Status OrderConsumer::settle(amqp::Consumer& consumer, const std::vector<amqp::Delivery>& batch,
                                   bool* databaseLost) {
  std::vector<PendingOrder> orders;
  std::vector<uint64_t> tags;
  orders.reserve(batch.size());
  for (const amqp::Delivery& delivery : batch) {
    PendingOrder pending;
    std::string error;
    if (!parseOrderMessage(delivery.body, &pending.order, &error)) {
      // Invalid now means invalid forever: dead-letter it at once rather than let it come back.
      log::warn("order_rejected", {{"reason", error}, {"message_id", delivery.messageId.value_or("")}});
      rejected_->Increment();
      amqp::Status status = consumer.reject(delivery.tag, false);
      if (!status.isOk()) {
        return status;
      }
      continue;
    }
    // An empty message_id is no idempotency key: treated like a missing one.
    if (delivery.messageId && !delivery.messageId->empty()) {
      pending.messageId = delivery.messageId;
    }
    orders.push_back(std::move(pending));
    tags.push_back(delivery.tag);
  }
  batchSize_->Observe(static_cast<double>(batch.size()));
  if (orders.empty()) {
    return amqp::Status::ok();
  }

  BatchResult result = store_.insertBatch(orders);
  if (result.unavailable) {
    *databaseLost = true;
    log::warn("database_unavailable", {{"reason", result.message}, {"requeued", orders.size()}});
    // Every valid delivery of this batch is still unsettled and has a tag <= the last one.
    return consumer.nack(tags.back(), true, true);
  }
  std::vector<bool> refused(orders.size(), false);
  for (std::size_t index : result.refused) {
    refused[index] = true;
    log::error("order_refused_by_database", {{"message_id", orders[index].messageId.value_or("")}});
    rejected_->Increment();
    amqp::Status status = consumer.reject(tags[index], false);
    if (!status.isOk()) {
      return status;
    }
  }
  stored_->Increment(static_cast<double>(result.inserted));
  duplicate_->Increment(static_cast<double>(orders.size() - result.refused.size() - result.inserted));
  // Committed: one multiple-ack settles the batch (rejected tags are already settled).
  for (std::size_t i = orders.size(); i-- > 0;) {
    if (!refused[i]) {
      return consumer.ack(tags[i], true);
    }
  }
  return amqp::Status::ok();
}

}  // namespace mp::billing
