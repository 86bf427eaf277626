#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/amqp_connection.h"
#include "common/amqp_publisher.h"
#include "http/metrics.h"

namespace mp::gateway {

struct BillingPublisherSettings {
  amqp::ConnectionSettings connection;
  std::string queue = "billing_queue";
  size_t maxBatch = 256;
  // Orders waiting to be published beyond which new ones are refused (503) rather than queued.
  size_t maxQueued = 1024;
  // The longest an order waits for its confirm, and the longest one publish may take to be written.
  std::chrono::milliseconds confirmTimeout{5000};
};

// Publishes orders for many request threads over one AMQP connection that its own thread owns
// (rabbitmq-c connections are single-threaded). Publishing is pipelined: each order goes out as soon
// as it arrives, beside earlier ones still waiting for their confirm, and its request is answered when
// its own delivery tag is settled. Every message is persistent with the message_id it is given.
// Nothing blocks for ever: while the broker has blocked the connection (connection.blocked, a resource
// alarm) orders are refused at once; a watchdog thread shuts the socket of a publish stuck longer than
// confirmTimeout, and of a stop() the publishing thread does not finish promptly.
// Thread-safe.
class BillingPublisher {
 public:
  BillingPublisher(BillingPublisherSettings settings, ServiceMetrics& metrics);
  ~BillingPublisher();
  BillingPublisher(const BillingPublisher&) = delete;
  BillingPublisher& operator=(const BillingPublisher&) = delete;

  void start();
  void stop();

  // Blocks until the broker confirmed the message (ok), or answers kUnavailable, its message saying why
  // (broker unreachable or blocked, maxQueued orders already waiting, a nack or return, or no confirm
  // within confirmTimeout). billing-app stores one row per messageId, however often it is published.
  Status publish(std::string body, std::string messageId);

 private:
  struct Pending {
    std::string body;
    std::string messageId;
    std::promise<Status> done;
  };

  void run();
  amqp::Status publishUntilLost(amqp::Connection& connection, amqp::Publisher& publisher);
  // The watchdog thread: interrupts the connection when a publish is stuck or a stop is not honoured.
  void watch();
  void failQueued(const std::string& reason);
  std::deque<std::shared_ptr<Pending>> takeBatch(std::chrono::milliseconds wait);
  // Opens a connection, declares the topology and enables confirms; on failure leaves both pointers empty.
  amqp::Status connect(std::unique_ptr<amqp::Connection>* connection,
                       std::unique_ptr<amqp::Publisher>* publisher);
  // Makes `connection` (or none) the one the watchdog may interrupt.
  void watchConnection(const amqp::Connection* connection);

  BillingPublisherSettings settings_;
  prometheus::Counter* confirmed_;
  prometheus::Counter* failed_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Pending>> queue_;  // guarded by mutex_
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<bool> blocked_{false};
  // Steady-clock time (ns since epoch) since which the publishing thread is inside one publish; 0: not.
  std::atomic<int64_t> publishingSince_{0};
  std::atomic<int64_t> stopRequestedAt_{0};
  std::mutex watchMutex_;
  std::condition_variable watchWake_;
  const amqp::Connection* watched_ = nullptr;  // guarded by watchMutex_
  bool watchDone_ = false;                     // guarded by watchMutex_
  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace mp::gateway
