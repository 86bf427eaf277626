#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/amqp_connection.h"

namespace mp::amqp {

// A message to publish: its body and, when not empty, the AMQP `message_id` property.
struct OutgoingMessage {
  std::string body;
  std::string messageId;
};

// Publishes persistent JSON messages with publisher confirms and reports success only for messages the
// broker confirmed and routed. Not thread-safe: it owns the channel of its connection while in use.
class Publisher {
 public:
  explicit Publisher(Connection& connection) : connection_(connection) {}

  // Puts the channel in confirm mode (confirm.select); call once per connection before publishing.
  Status enableConfirms();

  // Publishes every message to `routingKey` via `exchange` ("" is the default exchange, routing by queue
  // name), keeping at most `window` unconfirmed at once, and waits for the last confirm. Fails when any
  // message was nacked or unroutable (mandatory flag), or when the connection broke: then some of the
  // messages may have been stored anyway, so callers that retry must use message ids.
  // When `confirmed` is given it receives, per message, whether the broker confirmed it (acked and not
  // nacked); on an ok status every entry is true.
  Status publish(const std::string& exchange, const std::string& routingKey,
                 const std::vector<OutgoingMessage>& messages, std::size_t window = 1000,
                 std::vector<bool>* confirmed = nullptr);

  // While nothing is to be published: waits up to `wait` for a frame, so that heartbeats are sent and a
  // closed connection or channel is noticed. Ok on a quiet wait.
  Status serviceIdle(std::chrono::milliseconds wait);

 private:
  // Reads broker frames until no more than `maxOutstanding` publishes wait for their confirm.
  Status awaitConfirms(std::size_t maxOutstanding);
  void settle(uint64_t tag, bool multiple);

  Connection& connection_;
  bool confirming_ = false;
  uint64_t nextTag_ = 1;
  std::set<uint64_t> outstanding_;
  std::size_t nacked_ = 0;
  std::set<uint64_t> nackedTags_;
  std::size_t returned_ = 0;
};

}  // namespace mp::amqp
