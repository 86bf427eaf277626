#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mp {

// A service's Prometheus registry with the HTTP metrics every service exports (docs/contract.md, "Metrics")
// and the process gauges, rendered in the text format for GET /metrics. Thread-safe (prometheus-cpp).
class ServiceMetrics {
 public:
  explicit ServiceMetrics(std::string service);

  prometheus::Registry& registry() { return *registry_; }
  // The same registry, for a part that registers its own families for this /metrics (the operator's).
  std::shared_ptr<prometheus::Registry> sharedRegistry() const { return registry_; }
  const std::string& service() const { return service_; }

  // route is the route template ("/api/movies/:id"), never the raw path.
  void observeRequest(const std::string& method, const std::string& route, int status, double seconds);
  prometheus::Gauge& inFlight() { return *inFlight_; }

  // The text exposition: everything registered plus process CPU, memory, fds and start time.
  std::string render() const;

 private:
  std::string service_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Gauge* inFlight_;
  // The series of each (method, route, code), looked up once, so that no request builds and hashes a
  // label map under the family's lock (Family::Add does; docs/performance.md).
  struct RequestSeries {
    prometheus::Counter* requests;
    prometheus::Histogram* duration;
  };
  std::mutex seriesMutex_;
  std::unordered_map<std::string, RequestSeries> series_;  // guarded by seriesMutex_
};

// Buckets for request latency in seconds, from 0.5 ms to 10 s.
const prometheus::Histogram::BucketBoundaries& latencyBuckets();

}  // namespace mp
