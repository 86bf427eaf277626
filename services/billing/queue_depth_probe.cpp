#include "billing/queue_depth_probe.h"

#include "base/log.h"
#include "base/retry.h"
#include "orders/billing_topology.h"

namespace mp::billing {

QueueDepthProbe::QueueDepthProbe(amqp::ConnectionSettings broker, std::string queue, ServiceMetrics& metrics,
                                 std::chrono::milliseconds interval)
    : broker_(std::move(broker)),
      queue_(std::move(queue)),
      deadLetterQueue_(amqp::BillingTopology::forQueue(queue_).deadLetterQueue),
      interval_(interval) {
  family_ = &prometheus::BuildGauge()
                 .Name("billing_queue_messages")
                 .Help(
                     "Messages of the billing queue by state. ready: waiting in the queue (and its .dlq), "
                     "read from the broker by passive queue.declare at most every 5 s, absent while the "
                     "broker cannot be read; for a quorum queue the broker may report it a few seconds "
                     "late. unacked: deliveries this replica has read and not yet acknowledged, rejected "
                     "or requeued (deliveries still in the socket buffer are not counted).")
                 .Register(metrics.registry());
  unacked_ = &family_->Add({{"queue", queue_}, {"state", "unacked"}});
}

QueueDepthProbe::~QueueDepthProbe() {
  stop();
}

void QueueDepthProbe::start() {
  stop_ = false;
  thread_ = std::thread([this] {
    bool reported = false;
    while (!stop_.load()) {
      amqp::Status status = sampleOnce();
      // One warning per outage, not one per interval.
      if (!status.ok() && !reported) {
        log::warn("queue_depth_unavailable", {{"queue", queue_}, {"reason", status.message()}});
      }
      reported = !status.ok();
      sleepUnlessStopped(interval_, stop_);
    }
    connection_.reset();
  });
}

void QueueDepthProbe::stop() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

amqp::Status QueueDepthProbe::sampleOnce() {
  amqp::Status status = okStatus();
  if (!connection_ || connection_->lost()) {
    connection_.reset();
    status = amqp::Connection::open(broker_, &connection_);
  }
  if (status.ok()) {
    status = readReady(queue_, &ready_);
  }
  if (status.ok()) {
    status = readReady(deadLetterQueue_, &deadLettered_);
  }
  if (!status.ok()) {
    // Unknown is absent rather than the last value: the operator holds on a missing metric.
    connection_.reset();
    forget(&ready_);
    forget(&deadLettered_);
  }
  return status;
}

amqp::Status QueueDepthProbe::readReady(const std::string& queue, prometheus::Gauge** gauge) {
  uint32_t count = 0;
  amqp::Status status = amqp::countMessages(*connection_, queue, &count);
  if (status.ok()) {
    if (*gauge == nullptr) {
      *gauge = &family_->Add({{"queue", queue}, {"state", "ready"}});
    }
    (*gauge)->Set(static_cast<double>(count));
  }
  return status;
}

void QueueDepthProbe::forget(prometheus::Gauge** gauge) {
  if (*gauge != nullptr) {
    family_->Remove(*gauge);
    *gauge = nullptr;
  }
}

}  // namespace mp::billing
