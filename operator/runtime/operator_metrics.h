#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mp::op {

// The operator's own Prometheus metrics: reconciles, errors, decisions, query latency, leadership.
// Thread-safety: prometheus-cpp metrics are thread-safe; every method may be called from any thread.
class OperatorMetrics {
 public:
  // Registers its families in `registry`: a registry of its own, or the one the operator's HttpServer
  // renders for GET /metrics (ServiceMetrics::sharedRegistry()).
  explicit OperatorMetrics(
      std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>());

  void reconciled(bool success);
  // What failed: the `kind` label of operator_errors_total.
  enum class Failure { kKubernetes, kPrometheus, kConflict, kSpec };
  void error(Failure kind);

  void decision(const std::string& decision);  // Scaled, ScaleHeld, PodRestarted, InvalidSpec
  void prometheusQuery(double seconds);
  void leader(bool isLeader);

  // One metric of a policy as last read: the query's value (nullopt: unreadable) and its target.
  struct PolicyMetric {
    std::string name;
    std::optional<double> value;
    double targetPerReplica = 0;
  };
  // What the last reconcile of a policy saw and decided, for the desired-vs-current and value-vs-target
  // panels. An unreadable metric's value series is removed rather than left at its last value.
  void policyObserved(const std::string& namespaceName, const std::string& policy, int32_t desired,
                      int32_t current, const std::vector<PolicyMetric>& metrics);
  // The policy is gone: its series go too, rather than showing its last values for ever.
  void policyDeleted(const std::string& namespaceName, const std::string& policy);

  // The Prometheus text exposition of every metric.
  std::string render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Histogram& queryLatency_;
  prometheus::Gauge& leader_;
  prometheus::Family<prometheus::Gauge>& desired_;
  prometheus::Family<prometheus::Gauge>& current_;
  prometheus::Family<prometheus::Gauge>& metricValue_;
  prometheus::Family<prometheus::Gauge>& metricTarget_;
  std::mutex policiesMutex_;
  // Metric names exported per (namespace, policy), to remove the series of metrics no longer in a spec.
  std::map<std::pair<std::string, std::string>, std::set<std::string>>
      policyMetrics_;  // guarded by policiesMutex_
};

}  // namespace mp::op
