#include "runtime/operator_metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace mp::op {

OperatorMetrics::OperatorMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
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
                  .Add({})) {
  // Pre-create the common series so that dashboards see zeros rather than nothing.
  reconciles_.Add({{"result", "success"}});
  reconciles_.Add({{"result", "error"}});
}

void OperatorMetrics::reconciled(bool success) {
  reconciles_.Add({{"result", success ? "success" : "error"}}).Increment();
}

void OperatorMetrics::error(const std::string& kind) {
  errors_.Add({{"kind", kind}}).Increment();
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

std::string OperatorMetrics::render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace mp::op
