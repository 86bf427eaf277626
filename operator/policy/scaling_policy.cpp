#include "policy/scaling_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

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

void ScalingPolicy::remember(SteadyTime now, int32_t replicas, std::chrono::seconds keep) {
  history_.push_back({now, replicas});
  while (!history_.empty() && history_.front().at < now - keep) {
    history_.pop_front();
  }
}

ScaleDecision ScalingPolicy::decide(const ServicePolicySpec& spec, const ScaleInput& input, SteadyTime now) {
  if (!firstDecision_) {
    firstDecision_ = now;
  }
  const BehaviorSpec& behavior = spec.behavior;
  const auto upWindow = std::chrono::seconds(behavior.scaleUpStabilizationSeconds);
  const auto downWindow = std::chrono::seconds(behavior.scaleDownStabilizationSeconds);
  const auto keep = std::max(upWindow, downWindow);
  const int32_t current = input.currentReplicas;

  ScaleDecision decision;
  decision.desiredReplicas = current;

  // Per metric: its recommendation, or the current count when the ready pods already carry it within
  // tolerance (the HPA rule). The largest recommendation wins.
  std::optional<int32_t> proposal;
  std::string driver;
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    const MetricSpec& metric = spec.metrics[i];
    MetricStatus status{metric.name, std::nullopt, std::nullopt, ""};
    const MetricReading* reading = i < input.readings.size() ? &input.readings[i] : nullptr;
    if (reading == nullptr || !reading->value) {
      status.error = reading == nullptr || reading->error.empty() ? "no value" : reading->error;
      missing.push_back(metric.name + ": " + status.error);
      decision.metrics.push_back(status);
      continue;
    }
    double value = *reading->value;
    int32_t recommended = recommendReplicas(value, metric.targetPerReplica);
    int32_t replicas =
        withinTolerance(value, metric.targetPerReplica, input.readyReplicas, behavior.tolerance)
            ? current
            : recommended;
    status.value = value;
    status.recommendedReplicas = recommended;
    decision.metrics.push_back(status);
    if (!proposal || replicas > *proposal) {
      proposal = replicas;
      driver = describe(metric, value, recommended);
    }
  }

  std::string joined;
  for (const std::string& m : missing) {
    joined += (joined.empty() ? "" : "; ") + m;
  }
  decision.metricsAvailable = missing.empty();
  decision.metricsMessage = joined;

  if (!input.holdReason.empty()) {
    // Someone else decides the count (an autoscaler, an older policy) or the policy is paused.
    remember(now, current, keep);
    decision.reason = input.holdReason;
    decision.message = "held at " + std::to_string(current) + ": " + input.holdMessage +
                       (driver.empty() ? std::string() : "; " + driver);
    return decision;
  }
  if (input.rollingOut) {
    // Pods come and go during a rollout, so neither load per pod nor ready counts mean much: hold.
    remember(now, current, keep);
    decision.reason = "RollingOut";
    decision.message = "held at " + std::to_string(current) + " while rolling out: " + input.rolloutMessage +
                       (driver.empty() ? std::string() : "; " + driver);
    return decision;
  }

  if (!missing.empty()) {
    // Safety: a metric we cannot read never causes a scale-down. Hold the current count, or rise to
    // fallbackReplicas, or follow a readable metric upwards.
    int32_t target = current;
    std::string why = "holding " + std::to_string(current) + " replicas";
    if (spec.fallbackReplicas && *spec.fallbackReplicas > target) {
      target = *spec.fallbackReplicas;
      why = "fallbackReplicas " + std::to_string(target);
    }
    if (proposal && *proposal > target) {
      target = *proposal;
      why = driver;
    }
    target = std::max(std::min(target, std::max(spec.maxReplicas, current)), spec.minReplicas);
    if (behavior.maxStepReplicas > 0 && target > current + behavior.maxStepReplicas) {
      target = current + behavior.maxStepReplicas;
      decision.limit = ScaleDecision::Limit{
          "StepLimited", "at most " + std::to_string(behavior.maxStepReplicas) + " replicas per step"};
    }
    remember(now, std::max(target, current), keep);
    decision.desiredReplicas = target;
    decision.scale = target != current;
    decision.reason = decision.scale ? "Scaled" : "MetricsUnavailable";
    decision.message =
        (decision.scale ? "scaled from " + std::to_string(current) + " to " + std::to_string(target) + ": "
                        : std::string()) +
        "metrics unavailable (" + joined + "); " + why;
    return decision;
  }

  int32_t raw = proposal.value_or(current);
  int32_t clamped = std::clamp(raw, spec.minReplicas, spec.maxReplicas);
  if (raw > spec.maxReplicas) {
    decision.limit = ScaleDecision::Limit{"TooManyReplicas", "recommendation " + std::to_string(raw) +
                                                                 " capped at maxReplicas " +
                                                                 std::to_string(spec.maxReplicas)};
  } else if (raw < spec.minReplicas) {
    decision.limit = ScaleDecision::Limit{"TooFewReplicas", "recommendation " + std::to_string(raw) +
                                                                " raised to minReplicas " +
                                                                std::to_string(spec.minReplicas)};
  }
  remember(now, clamped, keep);

  // Stabilization (HPA): up to the lowest recommendation in the up window, down to the highest in the
  // down window.
  int32_t upBound = clamped;
  int32_t downBound = clamped;
  for (const Recommendation& r : history_) {
    if (r.at >= now - upWindow) {
      upBound = std::min(upBound, r.replicas);
    }
    if (r.at >= now - downWindow) {
      downBound = std::max(downBound, r.replicas);
    }
  }
  int32_t desired = std::min(std::max(current, upBound), downBound);
  std::string holdReason;
  if (desired < clamped) {
    holdReason = "ScaleUpStabilized";
  } else if (desired > clamped) {
    holdReason = "ScaleDownStabilized";
  }
  // At most one scale-down per window, and a new leader (empty history) first watches a whole window.
  if (desired < current) {
    SteadyTime since = std::max(*firstDecision_, lastScaleDown_.value_or(*firstDecision_));
    if (now - since < downWindow) {
      desired = current;
      holdReason = "ScaleDownStabilized";
    }
  }
  // min/max are hard limits, enforced even on a count someone set by hand.
  desired = std::clamp(desired, spec.minReplicas, spec.maxReplicas);
  if (behavior.maxStepReplicas > 0 && std::abs(desired - current) > behavior.maxStepReplicas) {
    desired = desired > current ? current + behavior.maxStepReplicas : current - behavior.maxStepReplicas;
    decision.limit = ScaleDecision::Limit{
        "StepLimited", "at most " + std::to_string(behavior.maxStepReplicas) + " replicas per step"};
  }

  decision.desiredReplicas = desired;
  decision.scale = desired != current;
  if (decision.scale) {
    decision.reason = "Scaled";
    decision.message =
        "scaled from " + std::to_string(current) + " to " + std::to_string(desired) + ": " + driver;
  } else if (!holdReason.empty()) {
    decision.reason = holdReason;
    decision.message = "held at " + std::to_string(current) + " (recommendation " + std::to_string(clamped) +
                       ") by the " + (holdReason == "ScaleUpStabilized" ? "scale-up" : "scale-down") +
                       " stabilization window: " + driver;
  } else {
    decision.reason = "Steady";
    decision.message = "steady at " + std::to_string(current) + ": " + driver;
  }
  return decision;
}

void ScalingPolicy::recordApplied(const ScaleDecision& decision, int32_t previousReplicas, SteadyTime now) {
  if (decision.scale && decision.desiredReplicas < previousReplicas) {
    lastScaleDown_ = now;
  }
}

}  // namespace mp::op
