#include "controller/scale_step.h"

#include "api/conditions.h"

namespace mp::op {

ScaleInput scaleInputFor(const DeploymentView& target, int32_t ready, bool paused,
                         const std::vector<ReplicaClaim>& owners, const std::string& ownersText) {
  ScaleInput input;
  input.currentReplicas = target.specReplicas;
  input.readyReplicas = ready;
  input.rollingOut = target.rollingOut;
  input.rolloutMessage = target.rolloutMessage;
  if (paused) {
    input.holdReason = reason::kPaused;
    input.holdMessage = std::string("paused by the annotation ") + kPausedAnnotation + "=true";
  } else if (!ownersText.empty()) {
    const bool one = owners.size() == 1;
    input.holdReason = reason::kOtherOwner;
    input.holdMessage = ownersText + " also set" + (one ? "s" : "") + " the replicas of Deployment " +
                        target.name + "; the count is left to " + (one ? "it" : "them");
  }
  return input;
}

namespace {

Condition metricsAvailable(const ScaleFindings& f) {
  if (f.decision.metricsAvailable) {
    return makeCondition(condition::kMetricsAvailable, true, reason::kMetricsRead,
                         "every metric query returned a value", f.generation);
  }
  return makeCondition(condition::kMetricsAvailable, false, f.metricsReason, f.decision.metricsMessage,
                       f.generation);
}

Condition paused(const ScaleFindings& f) {
  if (f.paused) {
    return makeCondition(condition::kPaused, true, reason::kPausedByAnnotation,
                         std::string("the annotation ") + kPausedAnnotation +
                             "=true: no scaling and no pod restarts until it is removed",
                         f.generation);
  }
  return makeCondition(condition::kPaused, false, reason::kNotPaused, "the operator acts on this policy",
                       f.generation);
}

Condition replicasOwned(const ScaleFindings& f) {
  if (f.otherOwners) {
    return makeCondition(condition::kReplicasOwned, false, reason::kOtherOwner, f.input.holdMessage,
                         f.generation);
  }
  return makeCondition(condition::kReplicasOwned, true, reason::kSoleOwner,
                       "nothing else the operator can see sets the replicas of Deployment " + f.target.name,
                       f.generation);
}

Condition rolloutStuck(const ScaleFindings& f) {
  const std::string deployment = "Deployment " + f.target.name;
  if (f.target.rolloutStuck) {
    return makeCondition(
        condition::kRolloutStuck, true, reason::kProgressDeadlineExceeded,
        deployment + " " + f.target.rolloutMessage + "; scaling and pod restarts are no longer held for it",
        f.generation);
  }
  return makeCondition(condition::kRolloutStuck, false, reason::kNoStuckRollout,
                       "no rollout of " + deployment + " is past its progress deadline", f.generation);
}

Condition scalingLimited(const ScaleFindings& f) {
  if (f.decision.limit) {
    return makeCondition(condition::kScalingLimited, true, f.decision.limit->reason,
                         f.decision.limit->message, f.generation);
  }
  return makeCondition(condition::kScalingLimited, false, reason::kDesiredWithinRange,
                       "the desired count is within minReplicas, maxReplicas and step limits", f.generation);
}

}  // namespace

std::vector<Condition> conditionsFor(const ScaleFindings& findings) {
  return {metricsAvailable(findings), paused(findings), replicasOwned(findings), rolloutStuck(findings),
          scalingLimited(findings)};
}

std::string stuckRolloutMessage(const DeploymentView& target) {
  return "Deployment " + target.name + " " + target.rolloutMessage +
         "; scaling and pod restarts resume although the rollout has not finished";
}

}  // namespace mp::op
