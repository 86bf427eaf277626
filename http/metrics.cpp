#include "http/metrics.h"

#include <prometheus/text_serializer.h>

#include "http/process_metrics.h"

namespace mp {

const prometheus::Histogram::BucketBoundaries& latencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

ServiceMetrics::ServiceMetrics(std::string service)
    : service_(std::move(service)), registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("http_requests_total")
                   .Help("HTTP requests answered, by route template and status code.")
                   .Register(*registry_);
  duration_ = &prometheus::BuildHistogram()
                   .Name("http_request_duration_seconds")
                   .Help("Time from a complete request to its response being queued, in seconds.")
                   .Register(*registry_);
  inFlight_ = &prometheus::BuildGauge()
                   .Name("http_requests_in_flight")
                   .Help("HTTP requests being handled now.")
                   .Register(*registry_)
                   .Add({{"service", service_}});
}

void ServiceMetrics::observeRequest(const std::string& method, const std::string& route, int status,
                                    double seconds) {
  std::string key = method;
  key += ' ';
  key += route;
  key += ' ';
  key += std::to_string(status);
  RequestSeries series{};
  {
    std::lock_guard<std::mutex> lock(seriesMutex_);
    auto found = series_.find(key);
    if (found == series_.end()) {
      RequestSeries added{&requests_->Add({{"service", service_},
                                           {"method", method},
                                           {"route", route},
                                           {"code", std::to_string(status)}}),
                          &duration_->Add({{"service", service_}, {"route", route}}, latencyBuckets())};
      found = series_.emplace(std::move(key), added).first;
    }
    series = found->second;
  }
  series.requests->Increment();
  series.duration->Observe(seconds);
}

std::string ServiceMetrics::render() const {
  auto families = registry_->Collect();
  for (auto& family : processMetrics()) {
    families.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace mp
