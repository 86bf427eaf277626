#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/service_policy_types.h"
#include "api/workload_objects.h"
#include "policy/scaling_policy.h"

// The pure parts of the reconciler's decideScale step: what it asks the ScalingPolicy, and the conditions
// that report the answer. The step itself only adds the metric reads and writes what these return.
namespace mp::op {

// The policy's input from what observeTarget saw: the Deployment's counts and rollout, and the hold of a
// paused policy or of other owners of the count (`owners`, described by `ownersText`). The readings are
// left to the metric reads.
ScaleInput scaleInputFor(const DeploymentView& target, int32_t ready, bool paused,
                         const std::vector<ReplicaClaim>& owners, const std::string& ownersText);

// What the scaling conditions are built from; the reconciler's Pass holds each.
struct ScaleFindings {
  const DeploymentView& target;
  bool paused;
  bool otherOwners;
  const ScaleInput& input;           // its holdMessage explains ReplicasOwned=False
  const std::string& metricsReason;  // the reason of MetricsAvailable=False
  const ScaleDecision& decision;
  int64_t generation;
};

// MetricsAvailable, Paused, ReplicasOwned, RolloutStuck and ScalingLimited, in the order they are set.
std::vector<Condition> conditionsFor(const ScaleFindings& findings);

// The RolloutStuck Event's message, recorded once when a rollout passes its progress deadline.
std::string stuckRolloutMessage(const DeploymentView& target);

}  // namespace mp::op
