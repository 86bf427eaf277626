#include "api/service_policy_types.h"

#include <cmath>
#include <limits>

#include "api/conditions.h"

namespace mp::op {
namespace {

using nlohmann::json;

// Reads optional typed fields and remembers the first type error, so parse code stays linear.
class FieldReader {
 public:
  explicit FieldReader(std::string& error) : error_(error) {}

  bool object(const json& parent, const char* key, const std::string& path) {
    if (!parent.contains(key) || parent.at(key).is_null()) {
      return false;
    }
    if (!parent.at(key).is_object()) {
      fail(path + "." + key + " must be an object");
      return false;
    }
    return true;
  }

  void text(const json& parent, const char* key, const std::string& path, std::string& out) {
    if (const json* value = find(parent, key)) {
      if (value->is_string()) {
        out = value->get<std::string>();
      } else {
        fail(path + "." + key + " must be a string");
      }
    }
  }

  template <typename Int>
  void integer(const json& parent, const char* key, const std::string& path, Int& out) {
    if (const json* value = find(parent, key)) {
      if (value->is_number_integer() && value->get<int64_t>() >= std::numeric_limits<Int>::min() &&
          value->get<int64_t>() <= std::numeric_limits<Int>::max()) {
        out = static_cast<Int>(value->get<int64_t>());
      } else {
        fail(path + "." + key + " must be an integer");
      }
    }
  }

  void number(const json& parent, const char* key, const std::string& path, double& out) {
    if (const json* value = find(parent, key)) {
      if (value->is_number() && std::isfinite(value->get<double>())) {
        out = value->get<double>();
      } else {
        fail(path + "." + key + " must be a number");
      }
    }
  }

  void fail(const std::string& message) {
    if (error_.empty()) {
      error_ = message;
    }
  }

 private:
  static const json* find(const json& parent, const char* key) {
    if (!parent.is_object() || !parent.contains(key) || parent.at(key).is_null()) {
      return nullptr;
    }
    return &parent.at(key);
  }

  std::string& error_;
};

json conditionToJson(const Condition& c) {
  return {{"type", c.type},
          {"status", c.status},
          {"reason", c.reason},
          {"message", c.message},
          {"lastTransitionTime", c.lastTransitionTime},
          {"observedGeneration", c.observedGeneration}};
}

}  // namespace

StatusOr<ServicePolicySpec> parsePolicySpec(const json& spec) {
  std::string error;
  FieldReader read(error);
  ServicePolicySpec out;
  if (!spec.is_object()) {
    return Status::invalidArgument("spec must be an object").withReason(reason::kInvalidSpec);
  }
  if (read.object(spec, "targetRef", "spec")) {
    read.text(spec.at("targetRef"), "kind", "spec.targetRef", out.targetRef.kind);
    read.text(spec.at("targetRef"), "name", "spec.targetRef", out.targetRef.name);
  }
  read.integer(spec, "minReplicas", "spec", out.minReplicas);
  read.integer(spec, "maxReplicas", "spec", out.maxReplicas);
  if (spec.contains("metrics") && !spec.at("metrics").is_null()) {
    if (!spec.at("metrics").is_array()) {
      read.fail("spec.metrics must be a list");
    } else {
      for (std::size_t i = 0; i < spec.at("metrics").size(); ++i) {
        const json& item = spec.at("metrics").at(i);
        std::string path = "spec.metrics[" + std::to_string(i) + "]";
        if (!item.is_object()) {
          read.fail(path + " must be an object");
          continue;
        }
        MetricSpec metric;
        read.text(item, "name", path, metric.name);
        read.text(item, "query", path, metric.query);
        read.number(item, "targetPerReplica", path, metric.targetPerReplica);
        out.metrics.push_back(metric);
      }
    }
  }
  if (read.object(spec, "behavior", "spec")) {
    const json& b = spec.at("behavior");
    read.integer(b, "scaleUpStabilizationSeconds", "spec.behavior", out.behavior.scaleUpStabilizationSeconds);
    read.integer(b, "scaleDownStabilizationSeconds", "spec.behavior",
                 out.behavior.scaleDownStabilizationSeconds);
    read.number(b, "tolerance", "spec.behavior", out.behavior.tolerance);
    read.integer(b, "maxStepReplicas", "spec.behavior", out.behavior.maxStepReplicas);
  }
  if (read.object(spec, "health", "spec")) {
    HealthSpec health;
    read.text(spec.at("health"), "query", "spec.health", health.query);
    read.integer(spec.at("health"), "unhealthyAfterSeconds", "spec.health", health.unhealthyAfterSeconds);
    read.text(spec.at("health"), "podLabel", "spec.health", health.podLabel);
    out.health = health;
  }
  if (spec.contains("fallbackReplicas") && !spec.at("fallbackReplicas").is_null()) {
    int32_t fallback = 0;
    read.integer(spec, "fallbackReplicas", "spec", fallback);
    out.fallbackReplicas = fallback;
  }
  if (!error.empty()) {
    return Status::invalidArgument(error).withReason(reason::kInvalidSpec);
  }
  return out;
}

std::vector<std::string> validatePolicySpec(const ServicePolicySpec& spec) {
  std::vector<std::string> problems;
  if (spec.targetRef.kind != "Deployment") {
    problems.push_back("spec.targetRef.kind must be Deployment, got \"" + spec.targetRef.kind + "\"");
  }
  if (spec.targetRef.name.empty()) {
    problems.push_back("spec.targetRef.name is empty");
  }
  if (spec.minReplicas < 1) {
    problems.push_back("spec.minReplicas must be at least 1");
  }
  if (spec.maxReplicas < 1) {
    problems.push_back("spec.maxReplicas must be at least 1");
  }
  if (spec.minReplicas > spec.maxReplicas) {
    problems.push_back("spec.minReplicas (" + std::to_string(spec.minReplicas) +
                       ") is greater than spec.maxReplicas (" + std::to_string(spec.maxReplicas) + ")");
  }
  if (spec.metrics.empty()) {
    problems.push_back("spec.metrics is empty");
  }
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    const MetricSpec& m = spec.metrics[i];
    std::string path = "spec.metrics[" + std::to_string(i) + "]";
    if (m.name.empty()) {
      problems.push_back(path + ".name is empty");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (!m.name.empty() && spec.metrics[j].name == m.name) {
        problems.push_back(path + ".name \"" + m.name + "\" is used twice");
      }
    }
    if (m.query.empty()) {
      problems.push_back(path + ".query is empty");
    }
    if (!(m.targetPerReplica > 0)) {
      problems.push_back(path + ".targetPerReplica must be greater than 0");
    }
  }
  const BehaviorSpec& b = spec.behavior;
  if (b.scaleUpStabilizationSeconds < 0 || b.scaleDownStabilizationSeconds < 0) {
    problems.push_back("spec.behavior stabilization windows must not be negative");
  }
  if (b.tolerance < 0 || b.tolerance >= 1) {
    problems.push_back("spec.behavior.tolerance must be in [0, 1)");
  }
  if (b.maxStepReplicas < 0) {
    problems.push_back("spec.behavior.maxStepReplicas must not be negative");
  }
  if (spec.health) {
    if (spec.health->query.empty()) {
      problems.push_back("spec.health.query is empty");
    }
    if (spec.health->unhealthyAfterSeconds < 0) {
      problems.push_back("spec.health.unhealthyAfterSeconds must not be negative");
    }
    if (spec.health->podLabel.empty()) {
      problems.push_back("spec.health.podLabel is empty");
    }
  }
  if (spec.fallbackReplicas &&
      (*spec.fallbackReplicas < spec.minReplicas || *spec.fallbackReplicas > spec.maxReplicas)) {
    problems.push_back("spec.fallbackReplicas must lie within [minReplicas, maxReplicas]");
  }
  return problems;
}

namespace {

// A metadata string; "" when absent or not a string (json::value would throw on the wrong type, found by
// tests/fuzz/fuzz_operator_json).
std::string metadataText(const json& meta, const char* key) {
  auto found = meta.find(key);
  return found != meta.end() && found->is_string() ? found->get<std::string>() : std::string();
}

}  // namespace

StatusOr<ServicePolicy> policyFromJson(const json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object.at("metadata").is_object()) {
    return Status::invalidArgument("object has no metadata").withReason("BadObject");
  }
  const json& meta = object.at("metadata");
  ServicePolicy policy;
  policy.metadata.name = metadataText(meta, "name");
  policy.metadata.namespaceName = metadataText(meta, "namespace");
  policy.metadata.uid = metadataText(meta, "uid");
  policy.metadata.resourceVersion = metadataText(meta, "resourceVersion");
  if (meta.contains("generation") && meta.at("generation").is_number_integer()) {
    policy.metadata.generation = meta.at("generation").get<int64_t>();
  }
  policy.metadata.creationTimestamp = metadataText(meta, "creationTimestamp");
  if (meta.contains("annotations") && meta.at("annotations").is_object()) {
    policy.metadata.paused = metadataText(meta.at("annotations"), kPausedAnnotation) == "true";
  }
  if (policy.metadata.name.empty()) {
    return Status::invalidArgument("object has no metadata.name").withReason("BadObject");
  }
  policy.rawSpec = object.value("spec", json::object());
  policy.status = statusFromJson(object.value("status", json::object()));
  return policy;
}

json specToJson(const ServicePolicySpec& spec) {
  json metrics = json::array();
  for (const MetricSpec& m : spec.metrics) {
    metrics.push_back({{"name", m.name}, {"query", m.query}, {"targetPerReplica", m.targetPerReplica}});
  }
  json out = {{"targetRef", {{"kind", spec.targetRef.kind}, {"name", spec.targetRef.name}}},
              {"minReplicas", spec.minReplicas},
              {"maxReplicas", spec.maxReplicas},
              {"metrics", metrics},
              {"behavior",
               {{"scaleUpStabilizationSeconds", spec.behavior.scaleUpStabilizationSeconds},
                {"scaleDownStabilizationSeconds", spec.behavior.scaleDownStabilizationSeconds},
                {"tolerance", spec.behavior.tolerance},
                {"maxStepReplicas", spec.behavior.maxStepReplicas}}}};
  if (spec.health) {
    out["health"] = {{"query", spec.health->query},
                     {"unhealthyAfterSeconds", spec.health->unhealthyAfterSeconds},
                     {"podLabel", spec.health->podLabel}};
  }
  if (spec.fallbackReplicas) {
    out["fallbackReplicas"] = *spec.fallbackReplicas;
  }
  return out;
}

json statusToJson(const ServicePolicyStatus& status) {
  json metrics = json::array();
  for (const MetricStatus& m : status.metrics) {
    json item = {{"name", m.name}};
    if (m.value) {
      item["value"] = *m.value;
    }
    if (m.recommendedReplicas) {
      item["recommendedReplicas"] = *m.recommendedReplicas;
    }
    if (!m.error.empty()) {
      item["error"] = m.error;
    }
    metrics.push_back(item);
  }
  json conditions = json::array();
  for (const Condition& c : status.conditions) {
    conditions.push_back(conditionToJson(c));
  }
  json out = {{"observedGeneration", status.observedGeneration},
              {"currentReplicas", status.currentReplicas},
              {"desiredReplicas", status.desiredReplicas},
              {"metrics", metrics},
              {"conditions", conditions}};
  if (!status.lastScaleTime.empty()) {
    out["lastScaleTime"] = status.lastScaleTime;
  }
  return out;
}

ServicePolicyStatus statusFromJson(const json& status) {
  ServicePolicyStatus out;
  if (!status.is_object()) {
    return out;
  }
  std::string ignored;
  FieldReader read(ignored);
  read.integer(status, "observedGeneration", "status", out.observedGeneration);
  read.integer(status, "currentReplicas", "status", out.currentReplicas);
  read.integer(status, "desiredReplicas", "status", out.desiredReplicas);
  read.text(status, "lastScaleTime", "status", out.lastScaleTime);
  if (status.contains("metrics") && status.at("metrics").is_array()) {
    for (const json& item : status.at("metrics")) {
      MetricStatus m;
      read.text(item, "name", "status.metrics", m.name);
      if (item.contains("value") && item.at("value").is_number()) {
        m.value = item.at("value").get<double>();
      }
      if (item.contains("recommendedReplicas") && item.at("recommendedReplicas").is_number_integer()) {
        m.recommendedReplicas = item.at("recommendedReplicas").get<int32_t>();
      }
      read.text(item, "error", "status.metrics", m.error);
      out.metrics.push_back(m);
    }
  }
  if (status.contains("conditions") && status.at("conditions").is_array()) {
    for (const json& item : status.at("conditions")) {
      Condition c;
      read.text(item, "type", "status.conditions", c.type);
      read.text(item, "status", "status.conditions", c.status);
      read.text(item, "reason", "status.conditions", c.reason);
      read.text(item, "message", "status.conditions", c.message);
      read.text(item, "lastTransitionTime", "status.conditions", c.lastTransitionTime);
      read.integer(item, "observedGeneration", "status.conditions", c.observedGeneration);
      out.conditions.push_back(c);
    }
  }
  return out;
}

const Condition* findCondition(const std::vector<Condition>& conditions, const std::string& type) {
  for (const Condition& c : conditions) {
    if (c.type == type) {
      return &c;
    }
  }
  return nullptr;
}

void setCondition(std::vector<Condition>& conditions, Condition condition, const std::string& now) {
  for (Condition& existing : conditions) {
    if (existing.type == condition.type) {
      condition.lastTransitionTime =
          existing.status == condition.status && !existing.lastTransitionTime.empty()
              ? existing.lastTransitionTime
              : now;
      existing = condition;
      return;
    }
  }
  condition.lastTransitionTime = now;
  conditions.push_back(condition);
}

}  // namespace mp::op
