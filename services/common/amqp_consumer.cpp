#include "common/amqp_consumer.h"

#include <amqp_framing.h>
#include <sys/time.h>

namespace mp::amqp {

Status Consumer::start(const std::string& queue, uint16_t prefetch) {
  amqp_connection_state_t state = connection_.state();
  amqp_basic_qos(state, Connection::kChannel, 0, prefetch, false);
  Status status = connection_.check(amqp_get_rpc_reply(state), "basic.qos");
  if (!status.ok()) {
    return status;
  }
  amqp_basic_consume(state, Connection::kChannel, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes, false,
                     false, false, amqp_empty_table);
  return connection_.check(amqp_get_rpc_reply(state), "basic.consume");
}

Status Consumer::next(std::chrono::milliseconds timeout, Delivery* out, bool* received) {
  *received = false;
  if (connection_.lost()) {
    return Status::unavailable("connection lost");
  }
  amqp_connection_state_t state = connection_.state();
  // Frees the memory of earlier deliveries; rabbitmq-c keeps it until asked.
  amqp_maybe_release_buffers(state);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  amqp_envelope_t envelope{};
  amqp_rpc_reply_t reply = amqp_consume_message(state, &envelope, &tv, 0);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
    out->tag = envelope.delivery_tag;
    out->redelivered = envelope.redelivered != 0;
    out->body.assign(static_cast<const char*>(envelope.message.body.bytes), envelope.message.body.len);
    const amqp_basic_properties_t& properties = envelope.message.properties;
    if ((properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
      out->messageId.emplace(static_cast<const char*>(properties.message_id.bytes),
                             properties.message_id.len);
    } else {
      out->messageId.reset();
    }
    amqp_destroy_envelope(&envelope);
    *received = true;
    return okStatus();
  }
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) {
    return okStatus();
  }
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    return handleOtherFrame();
  }
  return connection_.check(reply, "waiting for deliveries");
}

Status Consumer::handleOtherFrame() {
  amqp_frame_t frame{};
  int code =
      amqp_simple_wait_frame_noblock(connection_.state(), &frame, amqp_get_rpc_timeout(connection_.state()));
  if (code != AMQP_STATUS_OK) {
    return connection_.lose(std::string("reading a frame: ") + amqp_error_string2(code));
  }
  if (frame.frame_type != AMQP_FRAME_METHOD) {
    return okStatus();
  }
  switch (frame.payload.method.id) {
    case AMQP_CHANNEL_CLOSE_METHOD:
      return connection_.lose("channel closed by the broker");
    case AMQP_CONNECTION_CLOSE_METHOD:
      return connection_.lose("connection closed by the broker");
    case AMQP_BASIC_CANCEL_METHOD:
      // The queue was deleted or its leader moved: consuming must start over on a new connection.
      return connection_.lose("consumer cancelled by the broker");
    default:
      return okStatus();
  }
}

Status Consumer::ack(uint64_t tag, bool multiple) {
  return connection_.checkCode(amqp_basic_ack(connection_.state(), Connection::kChannel, tag, multiple),
                               "basic.ack");
}

Status Consumer::nack(uint64_t tag, bool multiple, bool requeue) {
  return connection_.checkCode(
      amqp_basic_nack(connection_.state(), Connection::kChannel, tag, multiple, requeue), "basic.nack");
}

Status Consumer::reject(uint64_t tag, bool requeue) {
  return connection_.checkCode(amqp_basic_reject(connection_.state(), Connection::kChannel, tag, requeue),
                               "basic.reject");
}

}  // namespace mp::amqp
