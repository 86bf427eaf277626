#include "common/amqp_publisher.h"

#include <amqp_framing.h>

#include <iterator>

namespace mp::amqp {
namespace {

amqp_bytes_t toBytes(const std::string& text) {
  amqp_bytes_t bytes;
  bytes.len = text.size();
  bytes.bytes = const_cast<char*>(text.data());
  return bytes;
}

}  // namespace

Status Publisher::enableConfirms() {
  amqp_confirm_select(connection_.state(), Connection::kChannel);
  Status status = connection_.check(amqp_get_rpc_reply(connection_.state()), "confirm.select");
  confirming_ = status.ok();
  return status;
}

Status Publisher::publish(const std::string& exchange, const std::string& routingKey,
                          const std::vector<OutgoingMessage>& messages, std::size_t window,
                          std::vector<bool>* confirmed) {
  if (confirmed) {
    confirmed->assign(messages.size(), false);
  }
  const uint64_t firstTag = nextTag_;
  if (!confirming_) {
    return Status::internal("publish before enableConfirms()");
  }
  if (connection_.lost()) {
    return Status::unavailable("connection lost");
  }
  nacked_ = 0;
  returnedCount_ = 0;
  failedTags_.clear();
  window = window == 0 ? 1 : window;
  for (const OutgoingMessage& message : messages) {
    Status status = send(exchange, routingKey, message);
    if (!status.ok()) {
      return status;
    }
    if (outstanding_.size() >= window) {
      status = awaitConfirms(window / 2);
      if (!status.ok()) {
        return status;
      }
    }
  }
  Status status = awaitConfirms(0);
  if (!status.ok()) {
    return status;
  }
  if (confirmed) {
    for (std::size_t i = 0; i < messages.size(); ++i) {
      (*confirmed)[i] = failedTags_.count(firstTag + i) == 0;
    }
  }
  if (nacked_ > 0 || returnedCount_ > 0) {
    return Status::internal(std::to_string(nacked_) + " message(s) nacked and " +
                            std::to_string(returnedCount_) + " unroutable");
  }
  return okStatus();
}

Status Publisher::send(const std::string& exchange, const std::string& routingKey,
                       const OutgoingMessage& message) {
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  properties.content_type = amqp_cstring_bytes("application/json");
  properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  if (!message.messageId.empty()) {
    properties._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    properties.message_id = toBytes(message.messageId);
  }
  // mandatory: a message no queue takes comes back as basic.return instead of silently vanishing.
  int code = amqp_basic_publish(connection_.state(), Connection::kChannel, toBytes(exchange),
                                toBytes(routingKey), true, false, &properties, toBytes(message.body));
  Status status = connection_.checkCode(code, "basic.publish");
  if (status.ok()) {
    outstanding_.emplace(nextTag_++, message.messageId);
  }
  return status;
}

Status Publisher::publishAsync(const std::string& exchange, const std::string& routingKey,
                               const OutgoingMessage& message, uint64_t* tag) {
  if (!confirming_) {
    return Status::internal("publish before enableConfirms()");
  }
  if (connection_.lost()) {
    return Status::unavailable("connection lost");
  }
  *tag = nextTag_;
  return send(exchange, routingKey, message);
}

Status Publisher::collectConfirms(std::chrono::microseconds wait,
                                  std::vector<std::pair<uint64_t, bool>>* settled) {
  if (connection_.lost()) {
    return Status::unavailable("connection lost");
  }
  amqp_connection_state_t state = connection_.state();
  timeval timeout{static_cast<time_t>(wait.count() / 1000000),
                  static_cast<suseconds_t>(wait.count() % 1000000)};
  timeval none{0, 0};
  // The first frame may be waited for; after it, only what has already arrived is read.
  for (bool first = true;; first = false) {
    if (!first && amqp_frames_enqueued(state) == 0 && amqp_data_in_buffer(state) == 0) {
      return okStatus();
    }
    Confirm confirm;
    Status status = readConfirm(first ? &timeout : &none, &confirm);
    if (!status.ok() || confirm.kind == Confirm::kTimeout) {
      return status;
    }
    book(confirm, [settled](uint64_t tag, bool taken) { settled->emplace_back(tag, taken); });
  }
}

template <typename Settle>
void Publisher::book(const Confirm& confirm, Settle settle) {
  if (confirm.kind == Confirm::kReturned) {
    // The broker sends a message's return before its ack, but not always right before: acks are
    // coalesced (one ack `multiple` may follow several returns), so the return names its message by id.
    auto match = outstanding_.end();
    if (confirm.messageId) {
      for (auto it = outstanding_.begin(); it != outstanding_.end(); ++it) {
        if (it->second == *confirm.messageId && returned_.count(it->first) == 0) {
          match = it;
          break;
        }
      }
    }
    if (match != outstanding_.end()) {
      returned_.insert(match->first);
    } else {
      unmatchedReturn_ = true;  // cannot tell which: the next ack (which covers it) fails all it settles
    }
    return;
  }
  if (confirm.kind != Confirm::kAck && confirm.kind != Confirm::kNack) {
    return;
  }
  auto first = confirm.multiple ? outstanding_.begin() : outstanding_.find(confirm.tag);
  auto last = confirm.multiple ? outstanding_.upper_bound(confirm.tag)
                               : (first == outstanding_.end() ? first : std::next(first));
  for (auto it = first; it != last; ++it) {
    const bool returned = returned_.erase(it->first) > 0 || unmatchedReturn_;
    const bool taken = confirm.kind == Confirm::kAck && !returned;
    if (!taken) {
      failedTags_.insert(it->first);
      ++(confirm.kind == Confirm::kNack ? nacked_ : returnedCount_);
    }
    settle(it->first, taken);
  }
  outstanding_.erase(first, last);
  if (confirm.kind == Confirm::kAck) {
    unmatchedReturn_ = false;
  }
}

Status Publisher::readConfirm(const timeval* wait, Confirm* out) {
  amqp_connection_state_t state = connection_.state();
  amqp_maybe_release_buffers(state);
  amqp_frame_t frame{};
  int code = amqp_simple_wait_frame_noblock(state, &frame, const_cast<timeval*>(wait));
  if (code == AMQP_STATUS_TIMEOUT) {
    out->kind = Confirm::kTimeout;
    return okStatus();
  }
  if (code != AMQP_STATUS_OK) {
    return connection_.lose(std::string("waiting for publisher confirms: ") + amqp_error_string2(code));
  }
  if (frame.frame_type != AMQP_FRAME_METHOD) {
    return okStatus();
  }
  switch (frame.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
      const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
      *out = {Confirm::kAck, ack->delivery_tag, ack->multiple != 0, std::nullopt};
      return okStatus();
    }
    case AMQP_BASIC_NACK_METHOD: {
      const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
      *out = {Confirm::kNack, nack->delivery_tag, nack->multiple != 0, std::nullopt};
      return okStatus();
    }
    case AMQP_BASIC_RETURN_METHOD: {
      // The returned content follows the method; read it off the wire. Its confirm (an ack) comes later.
      amqp_message_t returned{};
      Status status = connection_.check(amqp_read_message(state, frame.channel, &returned, 0),
                                        "reading a returned message");
      out->kind = Confirm::kReturned;
      if (status.ok() && (returned.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
        out->messageId = std::string(static_cast<const char*>(returned.properties.message_id.bytes),
                                     returned.properties.message_id.len);
      }
      amqp_destroy_message(&returned);
      return status;
    }
    case AMQP_CONNECTION_BLOCKED_METHOD:
      blocked_ = true;
      return okStatus();
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
      blocked_ = false;
      return okStatus();
    case AMQP_CHANNEL_CLOSE_METHOD:
      return connection_.lose("channel closed by the broker while publishing");
    case AMQP_CONNECTION_CLOSE_METHOD:
      return connection_.lose("connection closed by the broker while publishing");
    default:
      return okStatus();
  }
}

Status Publisher::serviceIdle(std::chrono::milliseconds wait) {
  if (connection_.lost()) {
    return Status::unavailable("connection lost");
  }
  amqp_connection_state_t state = connection_.state();
  amqp_maybe_release_buffers(state);
  amqp_frame_t frame{};
  timeval timeout{static_cast<time_t>(wait.count() / 1000),
                  static_cast<suseconds_t>((wait.count() % 1000) * 1000)};
  int code = amqp_simple_wait_frame_noblock(state, &frame, &timeout);
  if (code == AMQP_STATUS_TIMEOUT) {
    return okStatus();
  }
  if (code != AMQP_STATUS_OK) {
    return connection_.lose(std::string("while idle: ") + amqp_error_string2(code));
  }
  if (frame.frame_type == AMQP_FRAME_METHOD && (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                                                frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
    return connection_.lose("closed by the broker");
  }
  if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_CONNECTION_BLOCKED_METHOD) {
    blocked_ = true;
  } else if (frame.frame_type == AMQP_FRAME_METHOD &&
             frame.payload.method.id == AMQP_CONNECTION_UNBLOCKED_METHOD) {
    blocked_ = false;
  }
  return okStatus();
}

Status Publisher::awaitConfirms(std::size_t maxOutstanding) {
  amqp_connection_state_t state = connection_.state();
  while (outstanding_.size() > maxOutstanding) {
    Confirm confirm;
    // The RPC timeout bounds the wait: a broker that stops confirming is treated as gone.
    Status status = readConfirm(amqp_get_rpc_timeout(state), &confirm);
    if (!status.ok()) {
      return status;
    }
    if (confirm.kind == Confirm::kTimeout) {
      return connection_.lose(std::string("waiting for publisher confirms: ") +
                              amqp_error_string2(AMQP_STATUS_TIMEOUT));
    }
    book(confirm, [](uint64_t, bool) {});
  }
  return okStatus();
}

}  // namespace mp::amqp
