#pragma once

#include <amqp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"

namespace mp::amqp {

// AMQP operations return mp::Status (base/status.h). kUnavailable means the connection can no longer be
// used: reconnect. Any other failure (kInvalidArgument, kNotFound, kConflict, kInternal) leaves it usable.
using mp::Code;
using mp::Status;
inline bool connectionLost(const Status& status) {
  return status.code() == Code::kUnavailable;
}

// Where and how to connect, parsed from an AMQP URI such as amqp://user:pass@host:5672/%2f.
struct ConnectionSettings {
  std::string host;
  int port = 5672;
  std::string user;
  std::string password;
  std::string vhost = "/";
  // Both sides close a connection that misses two heartbeats, so a dead peer is noticed within ~2x this.
  int heartbeatSeconds = 10;
  // Upper bound on connect, login and every synchronous request, so no call hangs on a stuck broker.
  std::chrono::milliseconds timeout{10000};
};

// Parses an AMQP URI (the `RABBITMQ_URL` form). Returns an error naming what is wrong; never throws.
Status parseUrl(const std::string& url, ConnectionSettings* out);

struct StateDeleter {
  void operator()(amqp_connection_state_t state) const;
};
using StatePtr = std::unique_ptr<amqp_connection_state_t_, StateDeleter>;

// One open AMQP connection with channel 1 open on it; closed (politely when still healthy) on destruction.
// Not thread-safe: rabbitmq-c connections must be used by one thread at a time.
class Connection {
 public:
  static constexpr amqp_channel_t kChannel = 1;

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One attempt: TCP connect, login with heartbeats, open channel 1. The login announces the
  // `connection.blocked` capability, so the broker says when a resource alarm stops it reading.
  static Status open(const ConnectionSettings& settings, std::unique_ptr<Connection>* out);

  // Attempts until one succeeds or `stop` becomes true, sleeping with capped exponential backoff
  // (100 ms doubling to 3 s) in between; `onFailure` hears each failed attempt (for logs).
  // Returns null only when stopped.
  static std::unique_ptr<Connection> openWithRetry(const ConnectionSettings& settings,
                                                   const std::atomic<bool>& stop,
                                                   const std::function<void(const Status&)>& onFailure);

  amqp_connection_state_t state() const { return state_.get(); }

  // Turns the reply of a synchronous rabbitmq-c call into a Status; marks the connection lost on failure.
  Status check(amqp_rpc_reply_t reply, const char* what);
  // Same for the integer status of asynchronous calls (publish, ack, nack, reject).
  Status checkCode(int code, const char* what);
  // Records that the broker or the socket ended the connection; later calls fail fast.
  Status lose(std::string message);
  // When `reply` is the broker closing channel 1 with `code` (say 406 PRECONDITION_FAILED), acknowledges
  // the close and opens the channel again, so that the connection goes on: returns that error, not marked
  // lost. Anything else is check()ed as usual.
  Status checkRecovering(amqp_rpc_reply_t reply, int code, const char* what);

  bool lost() const { return lost_; }
  // Closes channel and connection politely, bounded by the RPC timeout (or by interrupt() from another
  // thread); the destructor does so when it was not called. Later calls fail fast.
  void close();

  // The one call another thread may make (while the object is alive): shuts the socket down, so that a
  // call blocked on it, even a publish that the broker stopped reading, returns an error at once.
  void interrupt() const;

 private:
  explicit Connection(StatePtr state) : state_(std::move(state)) {}

  StatePtr state_;
  int socket_ = -1;
  bool lost_ = false;
};

// Entries of an AMQP table (queue arguments, client properties); they point at `key` and `value`, which
// must outlive the request that sends them.
amqp_table_entry_t textEntry(const char* key, const char* value);
amqp_table_entry_t intEntry(const char* key, int32_t value);

}  // namespace mp::amqp
