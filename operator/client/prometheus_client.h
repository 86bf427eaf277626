#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace mp::op {

// One element of an instant-query result (a scalar result has no labels).
struct PromSample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Instant queries against Prometheus's HTTP API (/api/v1/query).
// Thread-safety: query() may be called from any thread.
class PrometheusClient {
 public:
  // `observeSeconds` receives each query's latency (for the operator's own /metrics); may be empty.
  PrometheusClient(std::string baseUrl, std::function<void(double)> observeSeconds, long timeoutMs = 5000);

  // An unreachable server, a non-success answer or a malformed body is a failed Status
  // (reason PrometheusUnreachable or QueryFailed); an empty vector is not.
  StatusOr<std::vector<PromSample>> query(const std::string& promql) const;

 private:
  std::string baseUrl_;
  std::function<void(double)> observeSeconds_;
  long timeoutMs_;
};

// The sum of a result's values, or nullopt for an empty result: the "total" a metric spec means.
std::optional<double> totalValue(const std::vector<PromSample>& samples);

}  // namespace mp::op
