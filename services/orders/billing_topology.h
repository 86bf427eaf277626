#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/amqp_connection.h"

namespace mp::amqp {

// How many times a message may go back to `billing_queue` (crash, broker restart, database outage) before
// the broker parks it in the dead-letter queue. High, because each such return of a valid order is our
// failure, not the order's; low enough that a message which crashes every consumer stops looping. See
// docs/billing.md.
constexpr int32_t kDeliveryLimit = 50;

// Names of the billing queue and its dead-letter parts; every name follows from the queue's (BILLING_QUEUE).
struct BillingTopology {
  std::string queue;               // durable quorum queue the gateway publishes to and billing consumes
  std::string deadLetterExchange;  // `<queue>.dlx`, direct, durable
  std::string deadLetterQueue;     // `<queue>.dlq`, durable quorum, bound to the exchange with its own name

  static BillingTopology forQueue(const std::string& queue);
};

// Declares exchange and queues with the same arguments every time, so publishers and consumers may both
// call it in any order, as often as they connect. `queue` dead-letters at least once
// (x-dead-letter-strategy at-least-once, x-overflow reject-publish) into the quorum `<queue>.dlq`.
// Queue arguments cannot change on a redeclare: queues left by an earlier version (`queue` without the
// strategy, a classic `.dlq`) are used as they are, with a `billing_topology_outdated` warning naming
// `billing-app migrate-topology`; a queue with any other arguments is an error.
Status declareBillingTopology(Connection& connection, const BillingTopology& topology);

// Number of ready messages in `queue` (passive declare); an error when the queue does not exist.
Status countMessages(Connection& connection, const std::string& queue, uint32_t* count);

// Moves up to `limit` messages from queue `from` to queue `to` over two connections of its own: each is
// consumed from `from`, published (same body and message_id, persistent, mandatory) with confirms to `to`,
// and acknowledged only once confirmed, so none is lost; one is copied twice only when a connection breaks
// between its confirm and its ack, which its message_id makes harmless for orders. Stops early when
// `from` is empty; `*moved` counts what was moved, also on failure.
Status moveMessages(const ConnectionSettings& settings, const std::string& from, const std::string& to,
                    uint64_t limit, uint64_t* moved);

struct ReplayReport {
  uint32_t waiting = 0;   // messages in the dead-letter queue when the replay began
  uint64_t replayed = 0;  // of them, moved back to the queue
};

// Moves the messages that are in `<queue>.dlq` when it starts back to `queue`, for billing-app to store
// (once the cause of their dead-lettering is fixed). Messages dead-lettered again meanwhile are not taken
// a second time, so a poison message cannot make it loop.
Status replayDeadLetters(const ConnectionSettings& settings, const BillingTopology& topology,
                         ReplayReport* report);

struct MigrationReport {
  std::vector<std::string> migrated;  // queues redeclared with the current arguments
  uint64_t moved = 0;                 // messages moved out and back in meanwhile
};

// Brings queues left by an earlier version to the current arguments: each outdated queue's messages go to
// `<name>.migrating`, the queue is deleted (only when no consumer is attached and it is empty) and
// declared anew, and the messages come back. Nothing is lost if it is interrupted: running it again
// finishes the job. billing-app must be stopped meanwhile (a queue with consumers is not deleted);
// orders posted while `queue` is away are answered 503 by the gateway (unroutable), not lost.
Status migrateBillingTopology(const ConnectionSettings& settings, const BillingTopology& topology,
                              MigrationReport* report);

}  // namespace mp::amqp
