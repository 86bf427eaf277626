#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace mp::op {

inline constexpr const char* kPolicyGroup = "platform.movies.dev";
inline constexpr const char* kPolicyVersion = "v1alpha1";
inline constexpr const char* kPolicyKind = "ServicePolicy";
inline constexpr const char* kPolicyPlural = "servicepolicies";
// `platform.movies.dev/paused: "true"` on a ServicePolicy: the operator reports but neither scales nor
// restarts pods until the annotation is removed (or set to anything else).
inline constexpr const char* kPausedAnnotation = "platform.movies.dev/paused";

// The workload a policy scales; only apps/v1 Deployments are supported.
struct TargetRef {
  std::string kind;
  std::string name;
};

// One PromQL query whose (scalar or summed vector) value is shared out at targetPerReplica per replica.
struct MetricSpec {
  std::string name;
  std::string query;
  double targetPerReplica = 0;
};

// How fast replicas may move; windows in seconds, tolerance as a fraction of the target.
struct BehaviorSpec {
  int64_t scaleUpStabilizationSeconds = 0;
  int64_t scaleDownStabilizationSeconds = 300;
  double tolerance = 0.1;
  int32_t maxStepReplicas = 0;  // 0: no per-step limit
};

// Pod health: the query returns one sample per unhealthy pod, named by the podLabel label.
struct HealthSpec {
  std::string query;
  int64_t unhealthyAfterSeconds = 60;
  std::string podLabel = "pod";
};

struct ServicePolicySpec {
  TargetRef targetRef;
  int32_t minReplicas = 1;
  int32_t maxReplicas = 0;
  std::vector<MetricSpec> metrics;
  BehaviorSpec behavior;
  std::optional<HealthSpec> health;
  std::optional<int32_t> fallbackReplicas;
};

// A Kubernetes condition as in metav1.Condition.
struct Condition {
  std::string type;
  std::string status;  // "True", "False" or "Unknown"
  std::string reason;
  std::string message;
  std::string lastTransitionTime;
  int64_t observedGeneration = 0;
};

// The last reading of one metric; value is absent when the query failed or came back empty.
struct MetricStatus {
  std::string name;
  std::optional<double> value;
  std::optional<int32_t> recommendedReplicas;
  std::string error;
};

struct ServicePolicyStatus {
  int64_t observedGeneration = 0;
  int32_t currentReplicas = 0;
  int32_t desiredReplicas = 0;
  std::string lastScaleTime;
  std::vector<MetricStatus> metrics;
  std::vector<Condition> conditions;
};

struct ObjectMeta {
  std::string name;
  std::string namespaceName;
  std::string uid;
  std::string resourceVersion;
  std::string creationTimestamp;
  int64_t generation = 0;
  bool paused = false;  // the kPausedAnnotation annotation is "true"
};

// The ServicePolicy custom resource as the reconciler sees it. The raw spec JSON is kept so that a spec
// the types cannot read still reaches the reconciler, which reports it as InvalidSpec.
struct ServicePolicy {
  ObjectMeta metadata;
  nlohmann::json rawSpec;
  ServicePolicyStatus status;
};

// Reads metadata, the raw spec and status from an API object; fails only when metadata is unusable.
StatusOr<ServicePolicy> policyFromJson(const nlohmann::json& object);

// Reads a spec with defaults applied; a wrong JSON type or unknown targetRef kind is an error.
StatusOr<ServicePolicySpec> parsePolicySpec(const nlohmann::json& spec);

// Every rule a readable spec can still break (min > max, empty query, target <= 0, ...); empty when valid.
std::vector<std::string> validatePolicySpec(const ServicePolicySpec& spec);

nlohmann::json statusToJson(const ServicePolicyStatus& status);
ServicePolicyStatus statusFromJson(const nlohmann::json& status);
nlohmann::json specToJson(const ServicePolicySpec& spec);

// Finds a condition by type, or nullptr.
const Condition* findCondition(const std::vector<Condition>& conditions, const std::string& type);

// Sets a condition; lastTransitionTime moves only when the status value flips (metav1 convention).
void setCondition(std::vector<Condition>& conditions, Condition condition, const std::string& now);

}  // namespace mp::op
