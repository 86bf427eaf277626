#pragma once

#include <cstdint>
#include <string>

#include "api/events.h"
#include "api/service_policy_types.h"

// The condition types of a ServicePolicy's status and the reasons they and the scaling decision carry
// (docs/operator.md, "Status"). Code compares and sets these names, never their spelling.
namespace mp::op::condition {

inline constexpr const char* kReady = "Ready";
inline constexpr const char* kMetricsAvailable = "MetricsAvailable";
inline constexpr const char* kPaused = "Paused";
inline constexpr const char* kReplicasOwned = "ReplicasOwned";
inline constexpr const char* kRolloutStuck = "RolloutStuck";
inline constexpr const char* kScalingLimited = "ScalingLimited";
inline constexpr const char* kHealthy = "Healthy";

}  // namespace mp::op::condition

namespace mp::op::reason {

// The scaling decision (ScaleDecision::reason, the Ready message and ScaleHeld Events): a scale, or why not.
inline constexpr const char* kScaled = event::kScaled;  // the same word as its Event
inline constexpr const char* kSteady = "Steady";
inline constexpr const char* kPaused = "Paused";
inline constexpr const char* kOtherOwner = "OtherOwner";
inline constexpr const char* kRollingOut = "RollingOut";
inline constexpr const char* kMetricsUnavailable = "MetricsUnavailable";
inline constexpr const char* kScaleUpStabilized = "ScaleUpStabilized";
inline constexpr const char* kScaleDownStabilized = "ScaleDownStabilized";

// ScalingLimited=True: why the desired count is not the recommendation.
inline constexpr const char* kTooFewReplicas = "TooFewReplicas";
inline constexpr const char* kTooManyReplicas = "TooManyReplicas";
inline constexpr const char* kStepLimited = "StepLimited";
inline constexpr const char* kDesiredWithinRange = "DesiredWithinRange";

// Ready.
inline constexpr const char* kReconciled = "Reconciled";
inline constexpr const char* kInvalidSpec = event::kInvalidSpec;  // the same word as its Event
inline constexpr const char* kTargetNotFound = "TargetNotFound";
inline constexpr const char* kTargetUnreadable = "TargetUnreadable";
inline constexpr const char* kUnsupportedTarget = "UnsupportedTarget";

// MetricsAvailable: every query read, or the reason of the failed read (a Status reason of the client).
inline constexpr const char* kMetricsRead = "MetricsRead";
inline constexpr const char* kPrometheusUnreachable = "PrometheusUnreachable";
inline constexpr const char* kQueryFailed = "QueryFailed";
inline constexpr const char* kEmptyResult = "EmptyResult";

// Paused, ReplicasOwned, RolloutStuck.
inline constexpr const char* kPausedByAnnotation = "PausedByAnnotation";
inline constexpr const char* kNotPaused = "NotPaused";
inline constexpr const char* kSoleOwner = "SoleOwner";
inline constexpr const char* kProgressDeadlineExceeded = "ProgressDeadlineExceeded";
inline constexpr const char* kNoStuckRollout = "NoStuckRollout";

// Healthy.
inline constexpr const char* kNotConfigured = "NotConfigured";
inline constexpr const char* kHealthUnknown = "HealthUnknown";
inline constexpr const char* kAllPodsHealthy = "AllPodsHealthy";
inline constexpr const char* kUnhealthyPods = "UnhealthyPods";

}  // namespace mp::op::reason

namespace mp::op {

// A condition of this generation, True or False.
inline Condition makeCondition(const char* type, bool status, const std::string& reason,
                               const std::string& message, int64_t generation) {
  return {type, status ? "True" : "False", reason, message, "", generation};
}

}  // namespace mp::op
