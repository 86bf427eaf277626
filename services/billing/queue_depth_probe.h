#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/amqp_connection.h"
#include "http/metrics.h"

namespace mp::billing {

// How often the broker is asked for the queue depth: often enough for scaling decisions, rare enough
// that many replicas cost the broker nothing.
constexpr std::chrono::milliseconds kQueueProbeInterval{5000};

// billing_queue_messages{queue,state}: the billing queue's depth as billing-app sees it, for dashboards and
// for the operator to scale billing on without RabbitMQ's management plugin.
//   state="ready"   messages waiting in `queue` (and in `<queue>.dlq`), read from the broker with a passive
//                   queue.declare on the probe's own connection and thread, at most every interval. The
//                   series is absent while the broker cannot be read, so nobody acts on a stale number.
//   state="unacked" deliveries this replica has read and not yet settled (set by the consumer).
// Thread-safety: start()/stop() from one thread; unacked() may be used from any thread.
class QueueDepthProbe {
 public:
  QueueDepthProbe(amqp::ConnectionSettings broker, std::string queue, ServiceMetrics& metrics,
                  std::chrono::milliseconds interval = kQueueProbeInterval);
  ~QueueDepthProbe();
  QueueDepthProbe(const QueueDepthProbe&) = delete;
  QueueDepthProbe& operator=(const QueueDepthProbe&) = delete;

  void start();
  void stop();

  // One read of both queues now, on the probe's connection (opened when needed). The probe thread calls
  // it every interval; tests call it directly.
  amqp::Status sampleOnce();

  prometheus::Gauge& unacked() { return *unacked_; }

 private:
  // Sets *gauge (created on first success) from the broker's ready count for `queue`.
  amqp::Status readReady(const std::string& queue, prometheus::Gauge** gauge);
  void forget(prometheus::Gauge** gauge);

  amqp::ConnectionSettings broker_;
  std::string queue_;
  std::string deadLetterQueue_;
  std::chrono::milliseconds interval_;
  prometheus::Family<prometheus::Gauge>* family_;
  prometheus::Gauge* unacked_;
  prometheus::Gauge* ready_ = nullptr;
  prometheus::Gauge* deadLettered_ = nullptr;
  std::unique_ptr<amqp::Connection> connection_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mp::billing
