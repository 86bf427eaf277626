#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/amqp_connection.h"

namespace mp::amqp {

// One message handed to the consumer; it stays unacknowledged until ack/nack/reject names its tag.
struct Delivery {
  uint64_t tag = 0;
  std::string body;
  std::optional<std::string> messageId;  // the AMQP `message_id` property, when the publisher set one
  bool redelivered = false;
};

// Receives deliveries from one queue with a prefetch limit and manual acknowledgements.
// Not thread-safe: one thread drives the consumer and its connection.
class Consumer {
 public:
  explicit Consumer(Connection& connection) : connection_(connection) {}

  // basic.qos(prefetch) then basic.consume with manual acks: at most `prefetch` deliveries unacknowledged.
  Status start(const std::string& queue, uint16_t prefetch);

  // Waits up to `timeout` (zero: only what already arrived) for the next delivery. On a timeout the
  // status is ok and `*received` is false. Heartbeats are sent and checked while waiting.
  Status next(std::chrono::milliseconds timeout, Delivery* out, bool* received);

  Status ack(uint64_t tag, bool multiple);
  Status nack(uint64_t tag, bool multiple, bool requeue);
  // requeue=false sends the message to the queue's dead-letter exchange.
  Status reject(uint64_t tag, bool requeue);

 private:
  // A frame other than a delivery arrived; it may mean the broker closed the channel or cancelled us.
  Status handleOtherFrame();

  Connection& connection_;
};

}  // namespace mp::amqp
