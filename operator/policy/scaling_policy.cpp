#include "policy/scaling_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "api/conditions.h"

namespace mp::op {
namespace {

std::string formatValue(double value) {
  std::ostringstream out;
  out.precision(6);
  out << value;
  return out.str();
}

std::string describe(const MetricSpec& metric, double value, int32_t recommended) {
  return metric.name + "=" + formatValue(value) + " (target " + formatValue(metric.targetPerReplica) +
         " per replica, recommends " + std::to_string(recommended) + ")";
}

// The decision before the phases: the current count, and what the metrics read.
ScaleDecision reportMetrics(const MetricProposals& proposals, int32_t current) {
  ScaleDecision decision;
  decision.desiredReplicas = current;
  decision.metrics = proposals.metrics;
  decision.metricsAvailable = proposals.missing.empty();
  for (const std::string& m : proposals.missing) {
    decision.metricsMessage += (decision.metricsMessage.empty() ? "" : "; ") + m;
  }
  return decision;
}

void settle(ScaleDecision& decision, const ReplicaTarget& target, int32_t current) {
  decision.desiredReplicas = target.replicas;
  decision.scale = target.replicas != current;
  decision.limit = target.limit;
}

std::string scaledFrom(int32_t current, int32_t desired) {
  return "scaled from " + std::to_string(current) + " to " + std::to_string(desired) + ": ";
}

// Some metric could not be read: the count rose (Scaled) or held (MetricsUnavailable).
void explainWithMissingMetrics(ScaleDecision& decision, const ReplicaTarget& target, int32_t current) {
  settle(decision, target, current);
  decision.reason = decision.scale ? reason::kScaled : reason::kMetricsUnavailable;
  decision.message = (decision.scale ? scaledFrom(current, target.replicas) : std::string()) +
                     "metrics unavailable (" + decision.metricsMessage + "); " + target.because;
}

// Every metric was read: the count moved (Scaled), a stabilization window held it, or it is Steady.
void explain(ScaleDecision& decision, const ReplicaTarget& desired, int32_t current, int32_t recommended,
             const std::string& holdReason) {
  settle(decision, desired, current);
  if (decision.scale) {
    decision.reason = reason::kScaled;
    decision.message = scaledFrom(current, desired.replicas) + desired.because;
  } else if (!holdReason.empty()) {
    decision.reason = holdReason;
    decision.message = "held at " + std::to_string(current) + " (recommendation " +
                       std::to_string(recommended) + ") by the " +
                       (holdReason == reason::kScaleUpStabilized ? "scale-up" : "scale-down") +
                       " stabilization window: " + desired.because;
  } else {
    decision.reason = reason::kSteady;
    decision.message = "steady at " + std::to_string(current) + ": " + desired.because;
  }
}

}  // namespace

int32_t recommendReplicas(double value, double targetPerReplica) {
  if (!(targetPerReplica > 0) || !(value > 0)) {
    return 0;
  }
  double replicas = std::ceil(value / targetPerReplica);
  // A value far beyond any sane load (or +inf) must not overflow: the max clamp applies later anyway.
  if (replicas >= static_cast<double>(std::numeric_limits<int32_t>::max())) {
    return std::numeric_limits<int32_t>::max();
  }
  return static_cast<int32_t>(replicas);
}

bool withinTolerance(double value, double targetPerReplica, int32_t ready, double tolerance) {
  if (ready <= 0 || !(targetPerReplica > 0)) {
    return false;
  }
  double ratio = value / (targetPerReplica * ready);
  return std::fabs(ratio - 1.0) <= tolerance;
}

MetricProposals proposeFromMetrics(const ServicePolicySpec& spec, const ScaleInput& input) {
  MetricProposals proposals;
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    const MetricSpec& metric = spec.metrics[i];
    MetricStatus status{metric.name, std::nullopt, std::nullopt, ""};
    const MetricReading* reading = i < input.readings.size() ? &input.readings[i] : nullptr;
    if (reading == nullptr || !reading->value) {
      status.error = reading == nullptr || reading->error.empty() ? "no value" : reading->error;
      proposals.missing.push_back(metric.name + ": " + status.error);
      proposals.metrics.push_back(status);
      continue;
    }
    double value = *reading->value;
    int32_t recommended = recommendReplicas(value, metric.targetPerReplica);
    int32_t replicas =
        withinTolerance(value, metric.targetPerReplica, input.readyReplicas, spec.behavior.tolerance)
            ? input.currentReplicas
            : recommended;
    status.value = value;
    status.recommendedReplicas = recommended;
    proposals.metrics.push_back(status);
    if (!proposals.replicas || replicas > *proposals.replicas) {
      proposals.replicas = replicas;
      proposals.driver = describe(metric, value, recommended);
    }
  }
  return proposals;
}

std::optional<ScaleHold> holdFor(const ScaleInput& input, const std::string& driver) {
  const std::string held = "held at " + std::to_string(input.currentReplicas);
  const std::string metric = driver.empty() ? std::string() : "; " + driver;
  if (!input.holdReason.empty()) {
    // Someone else decides the count (an autoscaler, an older policy) or the policy is paused.
    return ScaleHold{input.holdReason, held + ": " + input.holdMessage + metric};
  }
  if (input.rollingOut) {
    // Pods come and go during a rollout, so neither load per pod nor ready counts mean much.
    return ScaleHold{reason::kRollingOut, held + " while rolling out: " + input.rolloutMessage + metric};
  }
  return std::nullopt;
}

ReplicaTarget targetWithMissingMetrics(const ServicePolicySpec& spec, int32_t current,
                                       const MetricProposals& proposals) {
  ReplicaTarget target{current, "holding " + std::to_string(current) + " replicas", std::nullopt};
  if (spec.fallbackReplicas && *spec.fallbackReplicas > target.replicas) {
    target.replicas = *spec.fallbackReplicas;
    target.because = "fallbackReplicas " + std::to_string(target.replicas);
  }
  if (proposals.replicas && *proposals.replicas > target.replicas) {
    target.replicas = *proposals.replicas;
    target.because = proposals.driver;
  }
  target.replicas =
      std::max(std::min(target.replicas, std::max(spec.maxReplicas, current)), spec.minReplicas);
  return target;
}

ReplicaTarget clampToRange(const ServicePolicySpec& spec, int32_t proposal, const std::string& because) {
  ReplicaTarget target{std::clamp(proposal, spec.minReplicas, spec.maxReplicas), because, std::nullopt};
  const std::string recommendation = "recommendation " + std::to_string(proposal);
  if (proposal > spec.maxReplicas) {
    target.limit = ScaleDecision::Limit{reason::kTooManyReplicas, recommendation + " capped at maxReplicas " +
                                                                      std::to_string(spec.maxReplicas)};
  } else if (proposal < spec.minReplicas) {
    target.limit = ScaleDecision::Limit{reason::kTooFewReplicas, recommendation + " raised to minReplicas " +
                                                                     std::to_string(spec.minReplicas)};
  }
  return target;
}

Stabilized stabilize(const std::deque<Recommendation>& history, int32_t recommended, int32_t current,
                     const BehaviorSpec& behavior, SteadyTime now) {
  const auto upWindow = std::chrono::seconds(behavior.scaleUpStabilizationSeconds);
  const auto downWindow = std::chrono::seconds(behavior.scaleDownStabilizationSeconds);
  int32_t upBound = recommended;
  int32_t downBound = recommended;
  for (const Recommendation& r : history) {
    if (r.at >= now - upWindow) {
      upBound = std::min(upBound, r.replicas);
    }
    if (r.at >= now - downWindow) {
      downBound = std::max(downBound, r.replicas);
    }
  }
  Stabilized result{std::min(std::max(current, upBound), downBound), ""};
  if (result.replicas < recommended) {
    result.holdReason = reason::kScaleUpStabilized;
  } else if (result.replicas > recommended) {
    result.holdReason = reason::kScaleDownStabilized;
  }
  return result;
}

ReplicaTarget limitStep(ReplicaTarget target, int32_t current, const BehaviorSpec& behavior) {
  const int32_t step = behavior.maxStepReplicas;
  if (step > 0 && std::abs(target.replicas - current) > step) {
    target.replicas = target.replicas > current ? current + step : current - step;
    target.limit =
        ScaleDecision::Limit{reason::kStepLimited, "at most " + std::to_string(step) + " replicas per step"};
  }
  return target;
}

void ScalingPolicy::remember(SteadyTime now, int32_t replicas, const BehaviorSpec& behavior) {
  const auto keep = std::chrono::seconds(
      std::max(behavior.scaleUpStabilizationSeconds, behavior.scaleDownStabilizationSeconds));
  history_.push_back({now, replicas});
  while (!history_.empty() && history_.front().at < now - keep) {
    history_.pop_front();
  }
}

Stabilized ScalingPolicy::stabilizeAndPace(int32_t recommended, int32_t current, const BehaviorSpec& behavior,
                                           SteadyTime now) const {
  Stabilized result = stabilize(history_, recommended, current, behavior, now);
  if (result.replicas < current) {
    const SteadyTime since = std::max(*firstDecision_, lastScaleDown_.value_or(*firstDecision_));
    if (now - since < std::chrono::seconds(behavior.scaleDownStabilizationSeconds)) {
      return Stabilized{current, reason::kScaleDownStabilized};
    }
  }
  return result;
}

ScaleDecision ScalingPolicy::decide(const ServicePolicySpec& spec, const ScaleInput& input, SteadyTime now) {
  if (!firstDecision_) {
    firstDecision_ = now;
  }
  const int32_t current = input.currentReplicas;
  const MetricProposals proposals = proposeFromMetrics(spec, input);
  ScaleDecision decision = reportMetrics(proposals, current);
  if (std::optional<ScaleHold> hold = holdFor(input, proposals.driver)) {
    remember(now, current, spec.behavior);
    decision.reason = hold->reason;
    decision.message = hold->message;
    return decision;
  }
  if (!proposals.missing.empty()) {
    ReplicaTarget target =
        limitStep(targetWithMissingMetrics(spec, current, proposals), current, spec.behavior);
    remember(now, std::max(target.replicas, current), spec.behavior);
    explainWithMissingMetrics(decision, target, current);
    return decision;
  }
  const ReplicaTarget recommended =
      clampToRange(spec, proposals.replicas.value_or(current), proposals.driver);
  remember(now, recommended.replicas, spec.behavior);
  const Stabilized stabilized = stabilizeAndPace(recommended.replicas, current, spec.behavior, now);
  // min/max are hard limits, enforced even on a count someone set by hand.
  ReplicaTarget desired{std::clamp(stabilized.replicas, spec.minReplicas, spec.maxReplicas),
                        recommended.because, recommended.limit};
  explain(decision, limitStep(desired, current, spec.behavior), current, recommended.replicas,
          stabilized.holdReason);
  return decision;
}

void ScalingPolicy::recordApplied(const ScaleDecision& decision, int32_t previousReplicas, SteadyTime now) {
  if (decision.scale && decision.desiredReplicas < previousReplicas) {
    lastScaleDown_ = now;
  }
}

}  // namespace mp::op
