#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <memory>
#include <string>

namespace mp::op {

// The operator's own Prometheus metrics: reconciles, errors, decisions, query latency, leadership.
// Thread-safety: prometheus-cpp metrics are thread-safe; every method may be called from any thread.
class OperatorMetrics {
 public:
  OperatorMetrics();

  void reconciled(bool success);
  void error(const std::string& kind);         // kind: kubernetes, prometheus, conflict, spec
  void decision(const std::string& decision);  // Scaled, ScaleHeld, PodRestarted, InvalidSpec
  void prometheusQuery(double seconds);
  void leader(bool isLeader);

  // The Prometheus text exposition of every metric.
  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Histogram& queryLatency_;
  prometheus::Gauge& leader_;
};

}  // namespace mp::op
