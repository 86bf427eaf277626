#include "common/amqp_connection.h"

#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <thread>
#include <vector>

#include "base/retry.h"

namespace mp::amqp {
namespace {

timeval toTimeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

std::string bytesToString(amqp_bytes_t bytes) {
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

std::string describeReply(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "missing reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        return "connection closed by broker: " + std::to_string(close->reply_code) + " " +
               bytesToString(close->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        return "channel closed by broker: " + std::to_string(close->reply_code) + " " +
               bytesToString(close->reply_text);
      }
      return "unexpected broker method " + std::to_string(reply.reply.id);
  }
  return "unknown reply";
}

}  // namespace

void StateDeleter::operator()(amqp_connection_state_t state) const {
  amqp_destroy_connection(state);
}

Status parseUrl(const std::string& url, ConnectionSettings* out) {
  // amqp_parse_url decodes in place and points into its input, so it gets a private copy.
  std::vector<char> buffer(url.begin(), url.end());
  buffer.push_back('\0');
  amqp_connection_info info{};
  amqp_default_connection_info(&info);
  if (url.rfind("amqp://", 0) != 0 || amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
    return Status::invalidArgument("not a valid AMQP URI (expected amqp://user:pass@host:5672/vhost)");
  }
  if (info.host == nullptr || *info.host == '\0') {
    return Status::invalidArgument("the URI has no host");
  }
  out->host = info.host;
  out->port = info.port;
  out->user = info.user;
  out->password = info.password;
  out->vhost = info.vhost;
  return okStatus();
}

Connection::~Connection() {
  close();
}

void Connection::close() {
  if (lost_) {
    return;
  }
  lost_ = true;
  // Polite close so the broker logs no "client unexpectedly closed"; bounded by the RPC timeout.
  amqp_channel_close(state(), kChannel, AMQP_REPLY_SUCCESS);
  amqp_connection_close(state(), AMQP_REPLY_SUCCESS);
}

Status Connection::open(const ConnectionSettings& settings, std::unique_ptr<Connection>* out) {
  StatePtr state(amqp_new_connection());
  if (!state) {
    return Status::unavailable("cannot allocate an AMQP connection");
  }
  amqp_socket_t* socket = amqp_tcp_socket_new(state.get());
  if (socket == nullptr) {
    return Status::unavailable("cannot allocate a TCP socket");
  }
  const timeval timeout = toTimeval(settings.timeout);
  const std::string where = settings.host + ":" + std::to_string(settings.port);
  int code = amqp_socket_open_noblock(socket, settings.host.c_str(), settings.port, &timeout);
  if (code != AMQP_STATUS_OK) {
    return Status::unavailable("cannot connect to " + where + ": " + amqp_error_string2(code));
  }
  amqp_set_handshake_timeout(state.get(), &timeout);
  amqp_set_rpc_timeout(state.get(), &timeout);
  std::unique_ptr<Connection> connection(new Connection(std::move(state)));
  // Marked lost until fully open, so that a half-open connection is not closed politely.
  connection->lost_ = true;
  connection->socket_ = amqp_get_sockfd(connection->state());
  // Merged with rabbitmq-c's own capabilities, which do not include connection.blocked.
  amqp_table_entry_t capability{};
  capability.key = amqp_cstring_bytes("connection.blocked");
  capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capability.value.value.boolean = 1;
  amqp_table_entry_t property{};
  property.key = amqp_cstring_bytes("capabilities");
  property.value.kind = AMQP_FIELD_KIND_TABLE;
  property.value.value.table = amqp_table_t{1, &capability};
  const amqp_table_t properties{1, &property};
  amqp_rpc_reply_t reply = amqp_login_with_properties(
      connection->state(), settings.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, settings.heartbeatSeconds,
      &properties, AMQP_SASL_METHOD_PLAIN, settings.user.c_str(), settings.password.c_str());
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    return Status::unavailable("login to " + where + " failed: " + describeReply(reply));
  }
  amqp_channel_open(connection->state(), kChannel);
  reply = amqp_get_rpc_reply(connection->state());
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    return Status::unavailable("opening a channel on " + where + " failed: " + describeReply(reply));
  }
  connection->lost_ = false;
  *out = std::move(connection);
  return okStatus();
}

std::unique_ptr<Connection> Connection::openWithRetry(const ConnectionSettings& settings,
                                                      const std::atomic<bool>& stop,
                                                      const std::function<void(const Status&)>& onFailure) {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(3000));
  std::unique_ptr<Connection> connection;
  retryUntilStopped(stop, backoff, [&](std::chrono::milliseconds) {
    Status status = open(settings, &connection);
    if (!status.ok() && onFailure) {
      onFailure(status);
    }
    return status.ok();
  });
  return connection;
}

Status Connection::check(amqp_rpc_reply_t reply, const char* what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
    return okStatus();
  }
  return lose(std::string(what) + ": " + describeReply(reply));
}

Status Connection::checkCode(int code, const char* what) {
  if (code == AMQP_STATUS_OK) {
    return okStatus();
  }
  return lose(std::string(what) + ": " + amqp_error_string2(code));
}

Status Connection::checkRecovering(amqp_rpc_reply_t reply, int code, const char* what) {
  if (reply.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || reply.reply.id != AMQP_CHANNEL_CLOSE_METHOD ||
      static_cast<const amqp_channel_close_t*>(reply.reply.decoded)->reply_code != code) {
    return check(reply, what);
  }
  const std::string message = std::string(what) + ": " + describeReply(reply);
  amqp_channel_close_ok_t closeOk{};
  Status status = checkCode(amqp_send_method(state(), kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &closeOk),
                            "channel.close-ok");
  if (status.ok()) {
    amqp_channel_open(state(), kChannel);
    status = check(amqp_get_rpc_reply(state()), "reopening the channel");
  }
  return status.ok() ? (code == 404 ? Status::notFound(message) : Status::conflict(message)) : status;
}

void Connection::interrupt() const {
  if (socket_ >= 0) {
    ::shutdown(socket_, SHUT_RDWR);
  }
}

Status Connection::lose(std::string message) {
  lost_ = true;
  return Status::unavailable(std::move(message));
}

amqp_table_entry_t textEntry(const char* key, const char* value) {
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

}  // namespace mp::amqp
