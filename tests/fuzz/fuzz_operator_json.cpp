// libFuzzer harness: the JSON platform-operator reads from the Kubernetes API (ServicePolicy objects,
// Deployments, Pods, HorizontalPodAutoscaler and ServicePolicy lists). A hostile or malformed object must
// give an Error value or defaults, never a crash.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "api/service_policy_types.h"
#include "api/workload_objects.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto object = nlohmann::json::parse(data, data + size, nullptr, false);
  if (object.is_discarded()) {
    return 0;
  }
  namespace op = mp::op;
  auto policy = op::policyFromJson(object);
  if (policy.ok()) {
    // What the reconciler then does with a policy it read: its spec, validated, and its status written back.
    auto spec = op::parsePolicySpec(policy.value().rawSpec);
    if (spec.ok()) {
      op::validatePolicySpec(spec.value());
      op::specToJson(spec.value()).dump();
    }
    op::statusToJson(policy.value().status).dump();
  }
  if (object.is_object() && object.contains("status")) {
    op::statusToJson(op::statusFromJson(object["status"])).dump();
  }
  op::readDeployment(object);
  op::readPod(object);
  op::readReplicaClaims(object, "HorizontalPodAutoscaler");
  op::readReplicaClaims(object, "ServicePolicy");
  return 0;
}
