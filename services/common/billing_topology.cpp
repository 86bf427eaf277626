#include "common/billing_topology.h"

#include <amqp_framing.h>

namespace mp::amqp {
namespace {

// The entry points at `value`, which must outlive the request that sends it.
amqp_table_entry_t stringEntry(const char* key, const char* value) {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  entry.value.kind = AMQP_FIELD_KIND_UTF8;
  entry.value.value.bytes = amqp_cstring_bytes(value);
  return entry;
}

amqp_table_entry_t intEntry(const char* key, int32_t value) {
  amqp_table_entry_t entry{};
  entry.key = amqp_cstring_bytes(key);
  entry.value.kind = AMQP_FIELD_KIND_I32;
  entry.value.value.i32 = value;
  return entry;
}

}  // namespace

BillingTopology BillingTopology::forQueue(const std::string& queue) {
  return BillingTopology{queue, queue + ".dlx", queue + ".dlq"};
}

Status declareBillingTopology(Connection& connection, const BillingTopology& topology) {
  amqp_connection_state_t state = connection.state();
  const amqp_channel_t channel = Connection::kChannel;

  amqp_exchange_declare(state, channel, amqp_cstring_bytes(topology.deadLetterExchange.c_str()),
                        amqp_cstring_bytes("direct"), false, true, false, false, amqp_empty_table);
  Status status = connection.check(amqp_get_rpc_reply(state), "declaring the dead-letter exchange");
  if (!status.isOk()) {
    return status;
  }

  amqp_queue_declare(state, channel, amqp_cstring_bytes(topology.deadLetterQueue.c_str()), false, true, false,
                     false, amqp_empty_table);
  status = connection.check(amqp_get_rpc_reply(state), "declaring the dead-letter queue");
  if (!status.isOk()) {
    return status;
  }
  amqp_queue_bind(state, channel, amqp_cstring_bytes(topology.deadLetterQueue.c_str()),
                  amqp_cstring_bytes(topology.deadLetterExchange.c_str()),
                  amqp_cstring_bytes(topology.deadLetterQueue.c_str()), amqp_empty_table);
  status = connection.check(amqp_get_rpc_reply(state), "binding the dead-letter queue");
  if (!status.isOk()) {
    return status;
  }

  // Quorum: replicated and durable, and it counts redeliveries, which classic queues cannot limit.
  amqp_table_entry_t entries[] = {
      stringEntry("x-queue-type", "quorum"),
      stringEntry("x-dead-letter-exchange", topology.deadLetterExchange.c_str()),
      stringEntry("x-dead-letter-routing-key", topology.deadLetterQueue.c_str()),
      intEntry("x-delivery-limit", kDeliveryLimit),
  };
  amqp_table_t arguments{static_cast<int>(sizeof(entries) / sizeof(entries[0])), entries};
  amqp_queue_declare(state, channel, amqp_cstring_bytes(topology.queue.c_str()), false, true, false, false,
                     arguments);
  return connection.check(amqp_get_rpc_reply(state), "declaring the billing queue");
}

Status countMessages(Connection& connection, const std::string& queue, uint32_t* count) {
  amqp_queue_declare_ok_t* ok =
      amqp_queue_declare(connection.state(), Connection::kChannel, amqp_cstring_bytes(queue.c_str()), true,
                         false, false, false, amqp_empty_table);
  Status status = connection.check(amqp_get_rpc_reply(connection.state()), "counting messages");
  if (status.isOk()) {
    *count = ok->message_count;
  }
  return status;
}

}  // namespace mp::amqp
