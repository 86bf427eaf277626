#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "api/service_policy_types.h"

namespace mp::op {

// Monotonic time for every policy decision; tests feed simulated instants.
using SteadyTime = std::chrono::steady_clock::time_point;

// One metric as read this round: a value, or the reason there is none (unreachable, empty result).
struct MetricReading {
  std::string name;
  std::optional<double> value;
  std::string error;
};

// What the reconciler observed about the target before asking for a decision.
struct ScaleInput {
  int32_t currentReplicas = 0;  // the Deployment's spec.replicas
  int32_t readyReplicas = 0;    // pods ready and not terminating
  bool rollingOut = false;
  std::string rolloutMessage;
  // Non-empty: hold the count whatever the metrics say, with this reason (Paused, OtherOwner) and message.
  // Checked before everything else, rollouts included.
  std::string holdReason;
  std::string holdMessage;
  std::vector<MetricReading> readings;  // one per spec metric, in spec order
};

// The outcome of one decision, with everything status and Events need to explain it.
struct ScaleDecision {
  bool scale = false;  // true: write desiredReplicas through /scale
  int32_t desiredReplicas = 0;
  std::string reason;  // "Scaled" or the hold cause: MetricsUnavailable, RollingOut, ScaleDownStabilized, ...
  std::string message;  // names the metric and value behind the decision
  bool metricsAvailable = true;
  std::string metricsMessage;
  // Why the desired count is not the raw recommendation; nullopt when it is (condition ScalingLimited).
  struct Limit {
    std::string reason;  // TooFewReplicas, TooManyReplicas, StepLimited
    std::string message;
  };
  std::optional<Limit> limit;
  std::vector<MetricStatus> metrics;
};

// HPA rule for a total: the replicas needed so that each carries at most targetPerReplica.
int32_t recommendReplicas(double value, double targetPerReplica);

// Whether `ready` replicas carry `value` within `tolerance` of the target, so no change is warranted.
bool withinTolerance(double value, double targetPerReplica, int32_t ready, double tolerance);

// The phases of ScalingPolicy::decide, in order. Each is pure; the policy keeps only the history.

// Phase 1, each metric's proposal: its recommendation, or the current count when the ready pods carry it
// within tolerance (the HPA rule). The largest proposal wins.
struct MetricProposals {
  std::optional<int32_t> replicas;    // the winning proposal; nullopt when no metric could be read
  std::string driver;                 // the metric behind it, with its value and recommendation
  std::vector<MetricStatus> metrics;  // one per spec metric, in spec order
  std::vector<std::string> missing;   // "name: error" for each metric that could not be read
};
MetricProposals proposeFromMetrics(const ServicePolicySpec& spec, const ScaleInput& input);

// Phase 2, holds: another owner or a pause (input.holdReason), then a rollout, keep the current count
// whatever the metrics say. Returns the reason and message, or nullopt when nothing holds.
struct ScaleHold {
  std::string reason;
  std::string message;
};
std::optional<ScaleHold> holdFor(const ScaleInput& input, const std::string& driver);

// A count on its way through the phases: what it follows, and the limit that last changed it.
struct ReplicaTarget {
  int32_t replicas = 0;
  std::string because;  // the metric, fallbackReplicas or the current count it follows
  std::optional<ScaleDecision::Limit> limit;
};

// Phase 3, missing metrics (safety): a metric we cannot read never causes a scale-down. The count holds,
// rises to fallbackReplicas, or follows a readable metric upwards; a max below the current count does
// not lower it either, minReplicas still raises it. No ScalingLimited reason but the step limit's.
ReplicaTarget targetWithMissingMetrics(const ServicePolicySpec& spec, int32_t current,
                                       const MetricProposals& proposals);

// Phase 4, clamp: the proposal within minReplicas..maxReplicas, saying which bound applied.
ReplicaTarget clampToRange(const ServicePolicySpec& spec, int32_t proposal, const std::string& because);

// One recommendation kept for stabilization.
struct Recommendation {
  SteadyTime at;
  int32_t replicas;
};

// Phase 5, stabilization (HPA): up only to the lowest recommendation of the up window, down only to the
// highest of the down window; `history` holds the newest recommendation too. holdReason names the
// window that kept the count from the recommendation (ScaleUpStabilized, ScaleDownStabilized) or is empty.
struct Stabilized {
  int32_t replicas = 0;
  std::string holdReason;
};
Stabilized stabilize(const std::deque<Recommendation>& history, int32_t recommended, int32_t current,
                     const BehaviorSpec& behavior, SteadyTime now);

// Phase 6, step limit: at most behavior.maxStepReplicas away from the current count (StepLimited).
ReplicaTarget limitStep(ReplicaTarget target, int32_t current, const BehaviorSpec& behavior);

// The scaling decision for one policy: tolerance, min/max, stabilization windows, step limit and the
// safety rules. Pure (no I/O); keeps the recent recommendations that stabilization needs.
// Thread-safety: none; the reconciler owns one per policy and calls it from one thread at a time.
class ScalingPolicy {
 public:
  // `spec` must already be valid (validatePolicySpec returned nothing).
  ScaleDecision decide(const ServicePolicySpec& spec, const ScaleInput& input, SteadyTime now);

  // Tells the policy that a decision was applied, so the next scale-down waits a full window.
  void recordApplied(const ScaleDecision& decision, int32_t previousReplicas, SteadyTime now);

 private:
  void remember(SteadyTime now, int32_t replicas, const BehaviorSpec& behavior);
  // Phase 5 over this policy's history, and at most one scale-down per window: a new leader (empty
  // history) first watches a whole window.
  Stabilized stabilizeAndPace(int32_t recommended, int32_t current, const BehaviorSpec& behavior,
                              SteadyTime now) const;

  std::deque<Recommendation> history_;
  std::optional<SteadyTime> firstDecision_;
  std::optional<SteadyTime> lastScaleDown_;
};

}  // namespace mp::op
