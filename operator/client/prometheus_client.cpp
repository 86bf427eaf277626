#include "client/prometheus_client.h"

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "api/conditions.h"
#include "client/http.h"

namespace mp::op {
namespace {

using nlohmann::json;

// Prometheus writes sample values as strings, including "NaN" and "+Inf".
std::optional<double> sampleValue(const json& pair) {
  if (!pair.is_array() || pair.size() != 2 || !pair.at(1).is_string()) {
    return std::nullopt;
  }
  try {
    return std::stod(pair.at(1).get<std::string>());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

PrometheusClient::PrometheusClient(std::string baseUrl, std::function<void(double)> observeSeconds,
                                   long timeoutMs)
    : baseUrl_(std::move(baseUrl)), observeSeconds_(std::move(observeSeconds)), timeoutMs_(timeoutMs) {
  while (!baseUrl_.empty() && baseUrl_.back() == '/') {
    baseUrl_.pop_back();
  }
}

StatusOr<std::vector<PromSample>> PrometheusClient::query(const std::string& promql) const {
  HttpRequest request;
  request.url = baseUrl_ + "/api/v1/query?query=" + urlEncode(promql);
  request.headers = {"Accept: application/json"};
  request.timeoutMs = timeoutMs_;
  auto started = std::chrono::steady_clock::now();
  auto response = httpPerform(request);
  if (observeSeconds_) {
    observeSeconds_(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  if (!response.ok()) {
    return Status::unavailable(response.status().message()).withReason(reason::kPrometheusUnreachable);
  }
  json body = json::parse(response.value().body, nullptr, false);
  if (!body.is_object() || body.value("status", "") != "success") {
    std::string detail = body.is_object() ? body.value("error", "") : std::string("not JSON");
    return Status::fromHttp(static_cast<int>(response.value().status), reason::kQueryFailed,
                            "Prometheus answered " + std::to_string(response.value().status) + ": " + detail);
  }
  const json& data = body.value("data", json::object());
  std::string type = data.value("resultType", "");
  std::vector<PromSample> samples;
  if (type == "scalar") {
    auto value = sampleValue(data.value("result", json()));
    if (!value) {
      return Status::internal("malformed scalar result").withReason(reason::kQueryFailed);
    }
    samples.push_back({{}, *value});
    return samples;
  }
  if (type != "vector") {
    return Status::internal("query returned a " + type + ", expected an instant vector or scalar")
        .withReason(reason::kQueryFailed);
  }
  const json result = data.value("result", json::array());
  if (!result.is_array()) {
    return Status::internal("malformed vector result").withReason(reason::kQueryFailed);
  }
  for (const json& item : result) {
    auto value = sampleValue(item.value("value", json()));
    if (!value) {
      return Status::internal("malformed sample in result").withReason(reason::kQueryFailed);
    }
    PromSample sample;
    sample.value = *value;
    const json labels = item.value("metric", json::object());
    for (const auto& [key, label] : labels.items()) {
      if (label.is_string()) {
        sample.labels[key] = label.get<std::string>();
      }
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

std::optional<double> totalValue(const std::vector<PromSample>& samples) {
  if (samples.empty()) {
    return std::nullopt;
  }
  double total = 0;
  for (const PromSample& s : samples) {
    total += s.value;
  }
  if (std::isnan(total)) {
    return std::nullopt;
  }
  return total;
}

}  // namespace mp::op
