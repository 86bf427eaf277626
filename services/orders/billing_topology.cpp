#include "orders/billing_topology.h"

#include <amqp_framing.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "base/log.h"
#include "base/retry.h"
#include "common/amqp_consumer.h"
#include "common/amqp_publisher.h"

namespace mp::amqp {
namespace {

constexpr int kPreconditionFailed = 406;
constexpr int kNotFound = 404;

// The arguments of the billing queue and of its dead-letter queue: `current`, and those of the version
// before (at-most-once dead-lettering into a classic queue), which a broker may still hold.
struct QueueArguments {
  explicit QueueArguments(const BillingTopology& topology)
      : queueEntries{
            textEntry("x-queue-type", "quorum"),
            textEntry("x-dead-letter-exchange", topology.deadLetterExchange.c_str()),
            textEntry("x-dead-letter-routing-key", topology.deadLetterQueue.c_str()),
            intEntry("x-delivery-limit", kDeliveryLimit),
            // At least once: a dead-lettered message leaves the queue only once the DLQ confirmed it, so a
            // full or missing DLQ holds it back instead of dropping it; the strategy needs reject-publish.
            textEntry("x-dead-letter-strategy", "at-least-once"),
            textEntry("x-overflow", "reject-publish"),
        },
        deadLetterEntry(textEntry("x-queue-type", "quorum")) {}

  amqp_table_t queue() const { return {6, const_cast<amqp_table_entry_t*>(queueEntries)}; }
  amqp_table_t previousQueue() const { return {4, const_cast<amqp_table_entry_t*>(queueEntries)}; }
  amqp_table_t deadLetterQueue() const { return {1, const_cast<amqp_table_entry_t*>(&deadLetterEntry)}; }
  static amqp_table_t previousDeadLetterQueue() { return amqp_empty_table; }

  amqp_table_entry_t queueEntries[6];
  amqp_table_entry_t deadLetterEntry;
};

// Declares the durable queue `name`; a queue that exists with other arguments (406) is an error that
// leaves the connection usable.
Status declareQueue(Connection& connection, const std::string& name, amqp_table_t arguments) {
  amqp_queue_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(name.c_str()), false, true,
                     false, false, arguments);
  return connection.checkRecovering(amqp_get_rpc_reply(connection.state()), kPreconditionFailed,
                                    ("declaring queue " + name).c_str());
}

// Declares `name` with `current` arguments, or else finds it with `previous` ones (`*outdated` set).
Status declareCurrentOrPrevious(Connection& connection, const std::string& name, amqp_table_t current,
                                amqp_table_t previous, bool* outdated) {
  Status status = declareQueue(connection, name, current);
  if (status.ok() || amqp::connectionLost(status)) {
    return status;
  }
  if (declareQueue(connection, name, previous).ok()) {
    *outdated = true;
    return okStatus();
  }
  return status;  // the first error: it names the argument the broker found different
}

bool queueExists(Connection& connection, const std::string& name, Status* status) {
  amqp_queue_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(name.c_str()), true, false,
                     false, false, amqp_empty_table);
  *status = connection.checkRecovering(amqp_get_rpc_reply(connection.state()), kNotFound,
                                       ("looking for queue " + name).c_str());
  const bool exists = status->ok();
  if (!exists && !amqp::connectionLost(*status)) {
    *status = okStatus();  // 404: it does not exist
  }
  return exists;
}

// Deletes `name` once a passive declare shows it without consumers and messages (quorum queues do not
// implement queue.delete's if-unused and if-empty). Otherwise `*consumers` and `*messages` say why not.
Status deleteIdleQueue(Connection& connection, const std::string& name, uint32_t* consumers,
                       uint32_t* messages) {
  amqp_queue_declare_ok_t* ok =
      amqp_queue_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(name.c_str()), true,
                         false, false, false, amqp_empty_table);
  Status status =
      connection.check(amqp_get_rpc_reply(connection.state()), ("looking at queue " + name).c_str());
  if (!status.ok()) {
    return status;
  }
  *consumers = ok->consumer_count;
  *messages = ok->message_count;
  if (*consumers > 0 || *messages > 0) {
    return Status::conflict("queue " + name + " has " + std::to_string(*consumers) + " consumer(s) and " +
                            std::to_string(*messages) + " message(s)");
  }
  amqp_queue_delete(connection.state(), Connection::kChannel, amqp_cstring_bytes(name.c_str()), false, false);
  return connection.check(amqp_get_rpc_reply(connection.state()), ("deleting queue " + name).c_str());
}

// Moves what `name` holds to `parked` and deletes it. A consumer that just closed (ours) is still counted
// for a moment by a quorum queue, and messages that arrive meanwhile are moved too: both are waited out
// for a few seconds, then it is an error (someone still consumes).
Status parkAndDelete(const ConnectionSettings& settings, Connection& connection, const std::string& name,
                     const std::string& parked, uint64_t* moved) {
  const std::atomic<bool> never{false};
  uint32_t consumers = 0;
  uint32_t messages = 1;
  Status status = okStatus();
  for (int attempt = 0; attempt < 25; ++attempt) {
    if (messages > 0) {
      uint64_t count = 0;
      status = moveMessages(settings, name, parked, UINT64_MAX, &count);
      *moved += count;
      if (!status.ok()) {
        return status;
      }
    }
    status = deleteIdleQueue(connection, name, &consumers, &messages);
    if (status.ok() || amqp::connectionLost(status)) {
      return status;
    }
    mp::sleepUnlessStopped(std::chrono::milliseconds(200), never);
  }
  return Status::conflict(status.message() + " (is billing-app still consuming? stop it first)");
}

}  // namespace

BillingTopology BillingTopology::forQueue(const std::string& queue) {
  return BillingTopology{queue, queue + ".dlx", queue + ".dlq"};
}

Status declareBillingTopology(Connection& connection, const BillingTopology& topology) {
  amqp_connection_state_t state = connection.state();
  const amqp_channel_t channel = Connection::kChannel;
  const QueueArguments arguments(topology);

  amqp_exchange_declare(state, channel, amqp_cstring_bytes(topology.deadLetterExchange.c_str()),
                        amqp_cstring_bytes("direct"), false, true, false, false, amqp_empty_table);
  Status status = connection.check(amqp_get_rpc_reply(state), "declaring the dead-letter exchange");
  if (!status.ok()) {
    return status;
  }

  bool deadLetterQueueOutdated = false;
  status = declareCurrentOrPrevious(connection, topology.deadLetterQueue, arguments.deadLetterQueue(),
                                    QueueArguments::previousDeadLetterQueue(), &deadLetterQueueOutdated);
  if (!status.ok()) {
    return status;
  }
  amqp_queue_bind(state, channel, amqp_cstring_bytes(topology.deadLetterQueue.c_str()),
                  amqp_cstring_bytes(topology.deadLetterExchange.c_str()),
                  amqp_cstring_bytes(topology.deadLetterQueue.c_str()), amqp_empty_table);
  status = connection.check(amqp_get_rpc_reply(state), "binding the dead-letter queue");
  if (!status.ok()) {
    return status;
  }

  // Quorum: replicated and durable, and it counts redeliveries, which classic queues cannot limit.
  bool queueOutdated = false;
  status = declareCurrentOrPrevious(connection, topology.queue, arguments.queue(), arguments.previousQueue(),
                                    &queueOutdated);
  if (status.ok() && (queueOutdated || deadLetterQueueOutdated)) {
    log::warn("billing_topology_outdated",
              {{"queue", queueOutdated ? topology.queue : topology.deadLetterQueue},
               {"reason", "declared by an earlier version: dead-lettering is at most once"},
               {"fix", "stop billing-app, run `billing-app migrate-topology` (docs/billing.md)"}});
  }
  return status;
}

Status countMessages(Connection& connection, const std::string& queue, uint32_t* count) {
  amqp_queue_declare_ok_t* ok =
      amqp_queue_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(queue.c_str()), true,
                         false, false, false, amqp_empty_table);
  Status status = connection.check(amqp_get_rpc_reply(connection.state()), "counting messages");
  if (status.ok()) {
    *count = ok->message_count;
  }
  return status;
}

Status moveMessages(const ConnectionSettings& settings, const std::string& from, const std::string& to,
                    uint64_t limit, uint64_t* moved) {
  constexpr std::size_t kBatch = 100;
  *moved = 0;
  std::unique_ptr<Connection> source;
  std::unique_ptr<Connection> target;
  Status status = Connection::open(settings, &source);
  if (status.ok()) {
    status = Connection::open(settings, &target);
  }
  if (!status.ok()) {
    return status;
  }
  Consumer consumer(*source);
  Publisher publisher(*target);
  status = consumer.start(from, kBatch);
  if (status.ok()) {
    status = publisher.enableConfirms();
  }
  while (status.ok() && *moved < limit) {
    std::vector<Delivery> deliveries;
    // The first delivery may take a moment to come; a pause after it means the queue ran empty.
    while (deliveries.size() < std::min<uint64_t>(kBatch, limit - *moved)) {
      Delivery delivery;
      bool received = false;
      status =
          consumer.next(std::chrono::milliseconds(deliveries.empty() ? 1000 : 200), &delivery, &received);
      if (!status.ok() || !received) {
        break;
      }
      deliveries.push_back(std::move(delivery));
    }
    if (!status.ok() || deliveries.empty()) {
      break;  // unacknowledged deliveries go back to `from` when `source` closes
    }
    std::vector<OutgoingMessage> batch;
    for (const Delivery& delivery : deliveries) {
      batch.push_back({delivery.body, delivery.messageId.value_or("")});
    }
    std::vector<bool> confirmed;
    Status published = publisher.publish("", to, batch, kBatch, &confirmed);
    if (published.ok()) {
      // One acknowledgement for the batch: a quorum queue's client keeps only a few settle commands in
      // flight and drops the rest when its channel closes, so many single acks could be lost.
      status = consumer.ack(deliveries.back().tag, true);
      *moved += status.ok() ? deliveries.size() : 0;
    }
    for (std::size_t i = 0; i < deliveries.size() && status.ok() && !published.ok(); ++i) {
      const bool taken = i < confirmed.size() && confirmed[i];
      status = taken ? consumer.ack(deliveries[i].tag, false) : consumer.nack(deliveries[i].tag, false, true);
      *moved += taken ? 1 : 0;
    }
    if (status.ok() && !published.ok()) {
      status = published.withContext("publishing to " + to);
    }
  }
  if (status.ok()) {
    // A round trip on the channel after the last ack: the broker has handed it to the queue before the
    // close below ends the consumer (which would return what it still holds).
    uint32_t left = 0;
    status = countMessages(*source, from, &left);
  }
  return status;  // closing `source` politely sends the last acknowledgements before its consumer ends
}

Status replayDeadLetters(const ConnectionSettings& settings, const BillingTopology& topology,
                         ReplayReport* report) {
  std::unique_ptr<Connection> connection;
  Status status = Connection::open(settings, &connection);
  if (status.ok()) {
    status = declareBillingTopology(*connection, topology);
  }
  if (status.ok()) {
    status = countMessages(*connection, topology.deadLetterQueue, &report->waiting);
  }
  if (status.ok() && report->waiting > 0) {
    status =
        moveMessages(settings, topology.deadLetterQueue, topology.queue, report->waiting, &report->replayed);
  }
  return status;
}

Status migrateBillingTopology(const ConnectionSettings& settings, const BillingTopology& topology,
                              MigrationReport* report) {
  std::unique_ptr<Connection> source;
  Status status = Connection::open(settings, &source);
  if (!status.ok()) {
    return status;
  }
  const QueueArguments arguments(topology);
  // The dead-letter queue first, so that the queue's dead letters find it current once it is.
  const std::pair<std::string, amqp_table_t> queues[] = {
      {topology.deadLetterQueue, arguments.deadLetterQueue()}, {topology.queue, arguments.queue()}};
  for (const auto& [name, current] : queues) {
    const std::string parked = name + ".migrating";
    status = declareQueue(*source, name, current);
    if (amqp::connectionLost(status)) {
      return status;
    }
    if (!status.ok()) {
      // Outdated: park its messages, delete it and declare it anew.
      status = declareQueue(*source, parked, QueueArguments::previousDeadLetterQueue());
      if (status.ok()) {
        status = parkAndDelete(settings, *source, name, parked, &report->moved);
      }
      if (!status.ok()) {
        return status;
      }
      status = declareQueue(*source, name, current);
      if (!status.ok()) {
        return status;
      }
      report->migrated.push_back(name);
    }
    // Also after an interrupted run: whatever is parked goes back.
    if (queueExists(*source, parked, &status)) {
      uint64_t movedBack = 0;
      status = parkAndDelete(settings, *source, parked, name, &movedBack);
    }
    if (!status.ok()) {
      return status;
    }
  }
  // The binding of the new dead-letter queue, and a last check that everything is current.
  return declareBillingTopology(*source, topology);
}

}  // namespace mp::amqp
