#pragma once

#include <cstdint>
#include <string>

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
  std::string deadLetterQueue;     // `<queue>.dlq`, durable, bound to the exchange with its own name

  static BillingTopology forQueue(const std::string& queue);
};

// Declares exchange and queues with the same arguments every time, so publishers and consumers may both
// call it in any order, as often as they connect. A queue that exists with other arguments is an error.
Status declareBillingTopology(Connection& connection, const BillingTopology& topology);

// Number of ready messages in `queue` (passive declare); an error when the queue does not exist.
Status countMessages(Connection& connection, const std::string& queue, uint32_t* count);

}  // namespace mp::amqp
