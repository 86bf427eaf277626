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
  struct Recommendation {
    SteadyTime at;
    int32_t replicas;
  };

  void remember(SteadyTime now, int32_t replicas, std::chrono::seconds keep);

  std::deque<Recommendation> history_;
  std::optional<SteadyTime> firstDecision_;
  std::optional<SteadyTime> lastScaleDown_;
};

}  // namespace mp::op
