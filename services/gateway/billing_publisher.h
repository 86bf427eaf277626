#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/amqp_connection.h"
#include "http/event_loop.h"
#include "http/metrics.h"

namespace mp::gateway {

struct BillingPublisherSettings {
  amqp::ConnectionSettings connection;
  std::string queue = "billing_queue";
  // Orders one loop has sent and not yet seen confirmed beyond which new ones are refused (503).
  size_t maxInFlight = 1024;
  // The longest an order waits for its confirm, and the longest one publish may take to be written.
  std::chrono::milliseconds confirmTimeout{5000};
  // Event loops, one AMQP connection each (at least one).
  size_t loops = 1;
  // false: each loop runs on a thread of its own. true: each is driven by a host (loop(i), handed to
  // HttpServer::host), so an order taken by a reactor thread is published, confirmed and answered on that
  // thread; the hosts must stop before stop().
  bool hosted = false;
};

// Publishes orders with publisher confirms over AMQP connections, each owned by one event loop
// (http/event_loop.h) that reads its socket when the socket is readable: no thread waits for a confirm,
// and nothing polls. An order goes out as soon as its loop takes it, beside earlier ones still waiting,
// and is answered when its own delivery tag is settled. Every message is persistent with the message_id
// it is given. A connection is opened by a thread of the loop's own (a connect blocks) and handed over.
// Nothing waits for ever: a blocked connection (connection.blocked, a resource alarm) refuses orders at
// once; an order without a confirm within confirmTimeout is answered 503, and a connection that confirms
// nothing for that long is dropped and opened again; a watchdog thread shuts the socket of a publish
// stuck longer than confirmTimeout (rabbitmq-c writes without a deadline), and of a close at stop() that
// does not end promptly. publish() is thread-safe.
class BillingPublisher {
 public:
  // The order's outcome: ok once the broker confirmed it, else kUnavailable saying why.
  using Done = std::function<void(Status)>;

  BillingPublisher(BillingPublisherSettings settings, ServiceMetrics& metrics);
  ~BillingPublisher();
  BillingPublisher(const BillingPublisher&) = delete;
  BillingPublisher& operator=(const BillingPublisher&) = delete;

  size_t loops() const { return loops_->size(); }
  // Loop `index` (0..loops()-1), for its host to drive (BillingPublisherSettings::hosted).
  HostedLoop& loop(size_t index);

  void start();
  // Stops connecting, ends the loops (an order still waiting is answered 503) and closes the connections.
  // Idempotent.
  void stop();

  // Calls `done` once, on a loop's thread: ok when the broker confirmed the message; kUnavailable, its
  // message saying why, when the broker is unreachable or blocked, maxInFlight orders already wait, it
  // nacked or returned it, or no confirm came within confirmTimeout. The loop of the calling thread takes
  // it when that loop is connected; else another connected loop. billing-app stores one row per
  // messageId, however often it is published.
  void publish(std::string body, std::string messageId, Done done);

  struct Loop;
  // What the watchdog sees of one loop; it outlives the loops, so the watchdog ends after them.
  struct Watched;

 private:
  // The watchdog thread: interrupts a connection whose publish is stuck or whose close is not honoured.
  void watch();

  BillingPublisherSettings settings_;
  prometheus::Counter* confirmed_;
  prometheus::Counter* failed_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> stopRequestedAt_{0};
  std::vector<std::unique_ptr<Watched>> watched_;
  std::unique_ptr<LoopGroup<Loop>> loops_;
  std::mutex watchMutex_;
  std::condition_variable watchWake_;
  bool watchDone_ = false;  // guarded by watchMutex_
  std::thread watchdog_;
};

}  // namespace mp::gateway
