#pragma once

namespace mp::op::event {

// The reasons of the Events the operator records on a ServicePolicy (docs/operator.md, "Events"); the
// `decision` label of operator_decisions_total uses the same names.
inline constexpr const char* kScaled = "Scaled";
inline constexpr const char* kScaleHeld = "ScaleHeld";
inline constexpr const char* kPodRestarted = "PodRestarted";
inline constexpr const char* kInvalidSpec = "InvalidSpec";
inline constexpr const char* kRolloutStuck = "RolloutStuck";

}  // namespace mp::op::event
