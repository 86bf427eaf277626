#include "runtime/operator_metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "api/events.h"
#include "http/process_metrics.h"

namespace mp::op {

OperatorMetrics::OperatorMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      reconciles_(prometheus::BuildCounter()
                      .Name("operator_reconciles_total")
                      .Help("ServicePolicy reconciles by result")
                      .Register(*registry_)),
      errors_(prometheus::BuildCounter()
                  .Name("operator_errors_total")
                  .Help("Errors met while reconciling, by kind")
                  .Register(*registry_)),
      decisions_(prometheus::BuildCounter()
                     .Name("operator_decisions_total")
                     .Help("Decisions recorded as Events, by Event reason")
                     .Register(*registry_)),
      queryLatency_(prometheus::BuildHistogram()
                        .Name("operator_prometheus_query_duration_seconds")
                        .Help("Latency of Prometheus instant queries")
                        .Register(*registry_)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                         0.5, 1, 2.5, 5})),
      leader_(prometheus::BuildGauge()
                  .Name("operator_leader")
                  .Help("1 while this replica holds the Lease (or runs without leader election)")
                  .Register(*registry_)
                  .Add({})),
      desired_(prometheus::BuildGauge()
                   .Name("operator_policy_desired_replicas")
                   .Help("Replicas the last reconcile of a ServicePolicy wanted for its target")
                   .Register(*registry_)),
      current_(prometheus::BuildGauge()
                   .Name("operator_policy_current_replicas")
                   .Help("Ready, non-terminating pods of a ServicePolicy's target at its last reconcile")
                   .Register(*registry_)),
      metricValue_(prometheus::BuildGauge()
                       .Name("operator_policy_metric_value")
                       .Help("Last value of a ServicePolicy metric's query (the total load); absent while "
                             "it cannot be read")
                       .Register(*registry_)),
      metricTarget_(prometheus::BuildGauge()
                        .Name("operator_policy_metric_target_per_replica")
                        .Help("targetPerReplica of a ServicePolicy metric: the load one replica should carry")
                        .Register(*registry_)) {
  // Pre-create the common series so that dashboards see zeros rather than nothing.
  reconciles_.Add({{"result", "success"}});
  reconciles_.Add({{"result", "error"}});
  for (const char* kind : {"kubernetes", "prometheus", "conflict", "spec"}) {
    errors_.Add({{"kind", kind}});
  }
  for (const char* decision :
       {event::kScaled, event::kScaleHeld, event::kPodRestarted, event::kInvalidSpec}) {
    decisions_.Add({{"decision", decision}});
  }
}

void OperatorMetrics::reconciled(bool success) {
  reconciles_.Add({{"result", success ? "success" : "error"}}).Increment();
}

void OperatorMetrics::error(Failure kind) {
  static const char* const kNames[] = {"kubernetes", "prometheus", "conflict", "spec"};
  errors_.Add({{"kind", kNames[static_cast<int>(kind)]}}).Increment();
}

void OperatorMetrics::decision(const std::string& decision) {
  decisions_.Add({{"decision", decision}}).Increment();
}

void OperatorMetrics::prometheusQuery(double seconds) {
  queryLatency_.Observe(seconds);
}

void OperatorMetrics::leader(bool isLeader) {
  leader_.Set(isLeader ? 1 : 0);
}

namespace {

std::map<std::string, std::string> policyLabels(const std::string& namespaceName, const std::string& policy,
                                                const std::string& metric = "") {
  std::map<std::string, std::string> labels = {{"namespace", namespaceName}, {"policy", policy}};
  if (!metric.empty()) {
    labels.emplace("metric", metric);
  }
  return labels;
}

}  // namespace

void OperatorMetrics::policyObserved(const std::string& namespaceName, const std::string& policy,
                                     int32_t desired, int32_t current,
                                     const std::vector<PolicyMetric>& metrics) {
  std::lock_guard<std::mutex> lock(policiesMutex_);
  desired_.Add(policyLabels(namespaceName, policy)).Set(desired);
  current_.Add(policyLabels(namespaceName, policy)).Set(current);
  std::set<std::string> names;
  for (const PolicyMetric& metric : metrics) {
    names.insert(metric.name);
    const auto labels = policyLabels(namespaceName, policy, metric.name);
    metricTarget_.Add(labels).Set(metric.targetPerReplica);
    prometheus::Gauge& value = metricValue_.Add(labels);
    if (metric.value) {
      value.Set(*metric.value);
    } else {
      metricValue_.Remove(&value);
    }
  }
  std::set<std::string>& known = policyMetrics_[{namespaceName, policy}];
  for (const std::string& old : known) {
    if (names.count(old) == 0) {
      const auto labels = policyLabels(namespaceName, policy, old);
      metricValue_.Remove(&metricValue_.Add(labels));
      metricTarget_.Remove(&metricTarget_.Add(labels));
    }
  }
  known = std::move(names);
}

void OperatorMetrics::policyDeleted(const std::string& namespaceName, const std::string& policy) {
  std::lock_guard<std::mutex> lock(policiesMutex_);
  auto known = policyMetrics_.find({namespaceName, policy});
  if (known == policyMetrics_.end()) {
    return;
  }
  desired_.Remove(&desired_.Add(policyLabels(namespaceName, policy)));
  current_.Remove(&current_.Add(policyLabels(namespaceName, policy)));
  for (const std::string& metric : known->second) {
    const auto labels = policyLabels(namespaceName, policy, metric);
    metricValue_.Remove(&metricValue_.Add(labels));
    metricTarget_.Remove(&metricTarget_.Add(labels));
  }
  policyMetrics_.erase(known);
}

std::string OperatorMetrics::render() const {
  std::ostringstream out;
  auto families = registry_->Collect();
  for (auto& family : processMetrics()) {
    families.push_back(std::move(family));
  }
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace mp::op
