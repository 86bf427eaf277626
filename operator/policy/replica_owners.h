#pragma once

#include <string>
#include <vector>

namespace mp::op {

// An object that sets some workload's replica count, as the operator sees it: an autoscaling/v2
// HorizontalPodAutoscaler (spec.scaleTargetRef) or a ServicePolicy (spec.targetRef).
struct ReplicaClaim {
  std::string kind;  // "HorizontalPodAutoscaler" or "ServicePolicy"
  std::string name;
  std::string targetKind;
  std::string targetName;
  std::string creationTimestamp;  // RFC 3339 as the API server writes it (UTC, "Z"), so it sorts as text
};

// The claims in `claims` that own Deployment `deployment`'s replica count rather than policy `self`
// (same namespace): every HorizontalPodAutoscaler targeting it, and every ServicePolicy targeting it that
// was created before `self` (then by name, so exactly one policy of several keeps the count). Empty: `self`
// may scale. Pure; `self` itself may appear in `claims`.
std::vector<ReplicaClaim> otherReplicaOwners(const std::string& deployment, const ReplicaClaim& self,
                                             const std::vector<ReplicaClaim>& claims);

// "HorizontalPodAutoscaler api-gateway, ServicePolicy old-policy": the owners for a message.
std::string describeClaims(const std::vector<ReplicaClaim>& claims);

}  // namespace mp::op
