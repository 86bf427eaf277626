// raw-publish AMQP_URL QUEUE COUNT [WINDOW]: the limit POST /api/billing is compared with. Publishes COUNT
// persistent orders to QUEUE (which must exist) on one channel with publisher confirms, keeping at most
// WINDOW (default 1000) unconfirmed; rabbitmq-c only, none of the project's code. Prints the confirmed rate.
// raw-publish AMQP_URL QUEUE purge: empties QUEUE instead (bench/run's purge; rabbitmqctl's own Erlang
// node failed to start its distribution after the open-loop rows, every time in two full runs).
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <string>

namespace {

struct ConnectionCloser {
  void operator()(amqp_connection_state_t_* state) const {
    amqp_connection_close(state, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state);
  }
};

bool failed(amqp_rpc_reply_t reply, const char* what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
    return false;
  }
  std::fprintf(stderr, "raw-publish: %s failed (reply type %d, library error %s)\n", what, reply.reply_type,
               amqp_error_string2(reply.library_error));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: raw-publish AMQP_URL QUEUE COUNT [WINDOW]\n");
    return 2;
  }
  std::string url = argv[1];
  amqp_connection_info info{};
  if (amqp_parse_url(url.data(), &info) != AMQP_STATUS_OK) {
    std::fprintf(stderr, "raw-publish: cannot parse %s\n", argv[1]);
    return 2;
  }
  const std::string queue = argv[2];
  const bool purge = std::strcmp(argv[3], "purge") == 0;
  const long count = purge ? 0 : std::atol(argv[3]);
  const long window = argc == 5 ? std::atol(argv[4]) : 1000;

  std::unique_ptr<amqp_connection_state_t_, ConnectionCloser> connection(amqp_new_connection());
  amqp_connection_state_t state = connection.get();
  amqp_socket_t* socket = amqp_tcp_socket_new(state);
  if (!socket || amqp_socket_open(socket, info.host, info.port) != AMQP_STATUS_OK) {
    std::fprintf(stderr, "raw-publish: cannot connect to %s:%d\n", info.host, info.port);
    return 1;
  }
  if (failed(amqp_login(state, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password),
             "login")) {
    return 1;
  }
  amqp_channel_open(state, 1);
  if (failed(amqp_get_rpc_reply(state), "channel.open")) {
    return 1;
  }
  if (purge) {
    amqp_queue_purge_ok_t* purged = amqp_queue_purge(state, 1, amqp_cstring_bytes(queue.c_str()));
    if (failed(amqp_get_rpc_reply(state), "queue.purge") || purged == nullptr) {
      return 1;
    }
    std::printf("raw-publish purged %u messages from %s\n", purged->message_count, queue.c_str());
    return 0;
  }
  amqp_confirm_select(state, 1);
  if (failed(amqp_get_rpc_reply(state), "confirm.select")) {
    return 1;
  }

  amqp_basic_properties_t properties{};
  properties._flags =
      AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
  properties.content_type = amqp_cstring_bytes("application/json");
  properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  const std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  const auto started = std::chrono::steady_clock::now();
  long published = 0;
  long confirmed = 0;  // every tag up to this one is settled
  long nacked = 0;
  while (confirmed < count) {
    while (published < count && published - confirmed < window) {
      const long i = published;
      const std::string body = "{\"user_id\":\"" + std::to_string(i % 1000) +
                               "\",\"number_of_items\":" + std::to_string(1 + i % 9) +
                               ",\"total_amount\":\"" + std::to_string(i % 500) + ".99\"}";
      const std::string id = "raw-" + run + "-" + std::to_string(i);
      properties.message_id = amqp_cstring_bytes(id.c_str());
      if (amqp_basic_publish(state, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0, &properties,
                             amqp_cstring_bytes(body.c_str())) != AMQP_STATUS_OK) {
        std::fprintf(stderr, "raw-publish: basic.publish failed\n");
        return 1;
      }
      ++published;
    }
    amqp_frame_t frame{};
    amqp_maybe_release_buffers(state);
    if (amqp_simple_wait_frame(state, &frame) != AMQP_STATUS_OK) {
      std::fprintf(stderr, "raw-publish: connection lost while waiting for confirms\n");
      return 1;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) {
      continue;
    }
    const amqp_method_number_t method = frame.payload.method.id;
    if (method == AMQP_BASIC_ACK_METHOD || method == AMQP_BASIC_NACK_METHOD) {
      // Tags count from 1; "multiple" settles every tag up to this one. Confirms arrive in order here.
      uint64_t tag = 0;
      bool multiple = false;
      if (method == AMQP_BASIC_ACK_METHOD) {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        tag = ack->delivery_tag;
        multiple = ack->multiple;
      } else {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
        tag = nack->delivery_tag;
        multiple = nack->multiple;
        nacked += multiple ? static_cast<long>(tag) - confirmed : 1;
      }
      confirmed = multiple ? static_cast<long>(tag) : confirmed + 1;
    } else if (method == AMQP_CHANNEL_CLOSE_METHOD || method == AMQP_CONNECTION_CLOSE_METHOD) {
      std::fprintf(stderr, "raw-publish: the broker closed the channel (does queue %s exist?)\n",
                   queue.c_str());
      return 1;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (nacked > 0) {
    std::fprintf(stderr, "raw-publish: %ld messages nacked\n", nacked);
    return 1;
  }
  std::printf("raw-publish %ld confirmed in %.3f s: %.0f\n", count, seconds, count / seconds);
  return 0;
}
