#include "api/workload_objects.h"

#include <atomic>
#include <chrono>
#include <cstdio>

#include "api/conditions.h"

namespace mp::op {

using nlohmann::json;

namespace {

int64_t integerAt(const json& object, const json::json_pointer& pointer, int64_t fallback) {
  return object.contains(pointer) && object.at(pointer).is_number_integer()
             ? object.at(pointer).get<int64_t>()
             : fallback;
}

StatusOr<DeploymentView> readDeploymentFields(const json& deployment) {
  DeploymentView view;
  const json& meta = deployment.value("metadata", json::object());
  view.name = meta.value("name", "");
  view.resourceVersion = meta.value("resourceVersion", "");
  view.specReplicas = static_cast<int32_t>(integerAt(deployment, json::json_pointer("/spec/replicas"), 1));
  const json::json_pointer matchLabels("/spec/selector/matchLabels");
  if (!deployment.contains(matchLabels) || !deployment.at(matchLabels).is_object() ||
      deployment.at(matchLabels).empty()) {
    return Status::invalidArgument("Deployment " + view.name + " has no spec.selector.matchLabels")
        .withReason(reason::kUnsupportedTarget);
  }
  if (deployment.contains(json::json_pointer("/spec/selector/matchExpressions"))) {
    return Status::invalidArgument("Deployment " + view.name + " uses matchExpressions, not supported")
        .withReason(reason::kUnsupportedTarget);
  }
  for (const auto& [key, value] : deployment.at(matchLabels).items()) {
    view.labelSelector += (view.labelSelector.empty() ? "" : ",") + key + "=" + value.get<std::string>();
  }
  // The conditions `kubectl rollout status` waits for, minus availability (a pod that never becomes
  // available must not freeze scaling), and minus a rollout past its progress deadline.
  int64_t generation = integerAt(deployment, json::json_pointer("/metadata/generation"), 0);
  int64_t observed = integerAt(deployment, json::json_pointer("/status/observedGeneration"), 0);
  int64_t updated = integerAt(deployment, json::json_pointer("/status/updatedReplicas"), 0);
  int64_t total = integerAt(deployment, json::json_pointer("/status/replicas"), 0);
  // Past spec.progressDeadlineSeconds the Deployment controller gives up waiting and says so; a rollout
  // that will not finish must not hold the count and the health rules for ever. The condition is only
  // trusted for the generation the controller has observed (a new spec restarts the deadline).
  if (observed >= generation) {
    const json conditions = deployment.value("status", json::object()).value("conditions", json::array());
    for (const json& condition : conditions) {
      if (condition.value("type", "") == "Progressing" && condition.value("status", "") == "False" &&
          condition.value("reason", "") == "ProgressDeadlineExceeded") {
        view.rolloutStuck = true;
        view.rolloutMessage = "ProgressDeadlineExceeded: " + condition.value("message", "");
        return view;
      }
    }
  }
  if (observed < generation) {
    view.rollingOut = true;
    view.rolloutMessage =
        "the Deployment controller has not observed generation " + std::to_string(generation);
  } else if (updated < view.specReplicas) {
    view.rollingOut = true;
    view.rolloutMessage = std::to_string(updated) + " of " + std::to_string(view.specReplicas) +
                          " replicas updated to the new template";
  } else if (total > updated) {
    view.rollingOut = true;
    view.rolloutMessage = std::to_string(total - updated) + " old replicas pending termination";
  }
  return view;
}

PodView readPodFields(const json& pod) {
  PodView view;
  view.name = pod.value("metadata", json::object()).value("name", "");
  const json& meta = pod.value("metadata", json::object());
  view.terminating = meta.contains("deletionTimestamp") && !meta.at("deletionTimestamp").is_null();
  std::string phase = pod.value("status", json::object()).value("phase", "");
  if (phase == "Succeeded" || phase == "Failed") {
    view.terminating = true;
  }
  const json conditions = pod.value("status", json::object()).value("conditions", json::array());
  for (const json& condition : conditions) {
    if (condition.value("type", "") == "Ready") {
      view.ready = condition.value("status", "") == "True";
    }
  }
  if (view.terminating) {
    view.ready = false;
  }
  return view;
}

}  // namespace

StatusOr<DeploymentView> readDeployment(const json& deployment) {
  // A member of an unexpected JSON type (found by tests/fuzz/fuzz_operator_json) is a malformed object,
  // reported like any other unusable Deployment rather than thrown through the reconciler.
  try {
    return readDeploymentFields(deployment);
  } catch (const json::exception& e) {
    return Status::invalidArgument(std::string("malformed Deployment: ") + e.what())
        .withReason(reason::kUnsupportedTarget);
  }
}

PodView readPod(const json& pod) {
  try {
    return readPodFields(pod);
  } catch (const json::exception&) {
    return PodView{};  // unreadable: neither ready nor terminating, so it never counts as capacity
  }
}

std::vector<ReplicaClaim> readReplicaClaims(const json& list, const std::string& kind) {
  std::vector<ReplicaClaim> claims;
  if (!list.is_object() || !list.contains("items") || !list.at("items").is_array()) {
    return claims;
  }
  const char* refField = kind == "HorizontalPodAutoscaler" ? "scaleTargetRef" : "targetRef";
  for (const json& item : list.at("items")) {
    ReplicaClaim claim;
    claim.kind = kind;
    try {
      const json& meta = item.at("metadata");
      claim.name = meta.value("name", "");
      claim.creationTimestamp = meta.value("creationTimestamp", "");
      const json& ref = item.at("spec").at(refField);
      claim.targetKind = ref.value("kind", "");
      claim.targetName = ref.value("name", "");
    } catch (const json::exception&) {
      claim.targetKind.clear();
      claim.targetName.clear();
    }
    claims.push_back(claim);
  }
  return claims;
}

json makeEvent(const json& involved, const std::string& reason, const std::string& message, bool warning,
               const std::string& component, const std::string& instance, const std::string& now) {
  // Names like client-go's: the object's name plus a unique hex suffix.
  static std::atomic<uint64_t> sequence{0};
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), "%llx", static_cast<unsigned long long>(nanos) + sequence++);
  const json& meta = involved.value("metadata", json::object());
  std::string namespaceName = meta.value("namespace", "default");
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", meta.value("name", "object") + "." + suffix}, {"namespace", namespaceName}}},
          {"involvedObject",
           {{"apiVersion", involved.value("apiVersion", "")},
            {"kind", involved.value("kind", "")},
            {"name", meta.value("name", "")},
            {"namespace", namespaceName},
            {"uid", meta.value("uid", "")},
            {"resourceVersion", meta.value("resourceVersion", "")}}},
          {"reason", reason},
          {"message", message},
          {"type", warning ? "Warning" : "Normal"},
          {"source", {{"component", component}}},
          {"reportingComponent", component},
          {"reportingInstance", instance},
          {"firstTimestamp", now},
          {"lastTimestamp", now},
          {"count", 1}};
}

}  // namespace mp::op
