#pragma once

#include <string>
#include <vector>

#include "api/workload_objects.h"

namespace mp::op {

// The claims in `claims` that own Deployment `deployment`'s replica count rather than policy `self`
// (same namespace): every HorizontalPodAutoscaler targeting it, and every ServicePolicy targeting it that
// was created before `self` (then by name, so exactly one policy of several keeps the count). Empty: `self`
// may scale. Pure; `self` itself may appear in `claims`.
std::vector<ReplicaClaim> otherReplicaOwners(const std::string& deployment, const ReplicaClaim& self,
                                             const std::vector<ReplicaClaim>& claims);

// "HorizontalPodAutoscaler api-gateway, ServicePolicy old-policy": the owners for a message.
std::string describeClaims(const std::vector<ReplicaClaim>& claims);

}  // namespace mp::op
