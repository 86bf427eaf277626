#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <sys/time.h>

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
  // When `confirmed` is given it receives, per message, whether the broker took it (acked, neither nacked
  // nor returned; returns are matched by message_id as in collectConfirms()); on an ok status every entry
  // is true. Production code uses it, so it is no test-only helper: moveMessages
  // (services/orders/billing_topology.h, dead-letter replay and queue migration) acks or requeues each
  // moved delivery by `confirmed`. Tests and bench/publish_orders fill queues with it too.
  Status publish(const std::string& exchange, const std::string& routingKey,
                 const std::vector<OutgoingMessage>& messages, std::size_t window = 1000,
                 std::vector<bool>* confirmed = nullptr);

  // Pipelined use, one message at a time: publishes without waiting for the confirm; `*tag` is the
  // message's delivery tag, which collectConfirms() reports when the broker settles it.
  Status publishAsync(const std::string& exchange, const std::string& routingKey,
                      const OutgoingMessage& message, uint64_t* tag);
  // Reads the broker's frames for up to `wait` (then whatever is already buffered) and appends each
  // delivery tag settled meanwhile, with whether the broker took the message (acked, not nacked, not
  // returned). A basic.return is matched to its own message by `message_id` (publish with distinct ids:
  // a return without one, or with an id no outstanding message has, fails every message its ack settles).
  // Fails when the connection or channel broke; unsettled messages then have an unknown outcome.
  Status collectConfirms(std::chrono::microseconds wait, std::vector<std::pair<uint64_t, bool>>* settled);

  // While nothing is to be published: waits up to `wait` for a frame, so that heartbeats are sent and a
  // closed connection or channel is noticed. Ok on a quiet wait.
  Status serviceIdle(std::chrono::milliseconds wait);

  // True between the broker's connection.blocked (a memory or disk alarm: it has stopped reading from
  // publishing connections) and connection.unblocked, as far as the frames read so far tell. Publishes
  // meanwhile wait unread in the socket; callers should refuse work instead.
  bool blocked() const { return blocked_; }

 private:
  // Reads broker frames until no more than `maxOutstanding` publishes wait for their confirm.
  Status awaitConfirms(std::size_t maxOutstanding);
  // One frame read while confirms are outstanding, as far as publishing cares.
  struct Confirm {
    enum Kind { kNone, kTimeout, kAck, kNack, kReturned } kind = kNone;
    uint64_t tag = 0;
    bool multiple = false;
    std::optional<std::string> messageId;  // of a returned message
  };
  // Waits up to `wait` (null: no limit) for a frame; acks, nacks and returns (whose content it reads)
  // fill `out`, connection.blocked/unblocked set blocked(), a closed channel or connection fails the status.
  Status readConfirm(const timeval* wait, Confirm* out);
  // Books an ack, nack or return: calls `settle(tag, taken)` for each outstanding tag an ack or nack
  // settles and forgets those tags; a return marks its message so that its ack settles it as not taken.
  template <typename Settle>
  void book(const Confirm& confirm, Settle settle);
  Status send(const std::string& exchange, const std::string& routingKey, const OutgoingMessage& message);

  Connection& connection_;
  bool confirming_ = false;
  bool blocked_ = false;
  uint64_t nextTag_ = 1;
  std::map<uint64_t, std::string> outstanding_;  // tag -> message_id of each unconfirmed publish
  std::set<uint64_t> returned_;                  // outstanding tags whose message came back
  bool unmatchedReturn_ = false;                 // a return no outstanding tag could be matched to
  std::set<uint64_t> failedTags_;                // publish(): tags nacked or returned
  std::size_t nacked_ = 0;
  std::size_t returnedCount_ = 0;
};

}  // namespace mp::amqp
