#include "policy/health_policy.h"

#include <algorithm>

#include "api/conditions.h"

namespace mp::op {

HealthDecision HealthPolicy::evaluate(const HealthSpec& spec, int32_t minReplicas,
                                      const std::vector<PodView>& pods,
                                      const std::optional<std::set<std::string>>& unhealthy, SteadyTime now) {
  HealthDecision decision;
  if (!unhealthy) {
    // Not knowing is no reason to restart anything; keep the clocks as they are.
    decision.known = false;
    decision.reason = reason::kHealthUnknown;
    decision.message = "the health query could not be read";
    return decision;
  }
  int32_t ready = 0;
  int32_t live = 0;
  bool terminating = false;
  std::map<std::string, SteadyTime> still;
  for (const PodView& pod : pods) {
    if (pod.terminating) {
      terminating = true;
      continue;
    }
    ++live;
    if (pod.ready) {
      ++ready;
    }
    if (unhealthy->count(pod.name) != 0) {
      auto found = unhealthySince_.find(pod.name);
      still[pod.name] = found == unhealthySince_.end() ? now : found->second;
      decision.unhealthyPods.push_back(pod.name);
    }
  }
  unhealthySince_ = std::move(still);
  std::sort(decision.unhealthyPods.begin(), decision.unhealthyPods.end());

  if (decision.unhealthyPods.empty()) {
    decision.reason = reason::kAllPodsHealthy;
    decision.message = "no pod is reported unhealthy";
  } else {
    decision.reason = reason::kUnhealthyPods;
    std::string names;
    for (const std::string& name : decision.unhealthyPods) {
      names += (names.empty() ? "" : ", ") + name;
    }
    decision.message = "unhealthy: " + names;
  }

  // A scale-down since the restart lowers what "replaced" can mean.
  if (awaitReady_ && (ready >= *awaitReady_ || (!terminating && ready >= live))) {
    awaitReady_.reset();
  }
  // The oldest offender that has been unhealthy long enough.
  const std::string* candidate = nullptr;
  SteadyTime oldest = now;
  for (const auto& [name, since] : unhealthySince_) {
    if (now - since >= std::chrono::seconds(spec.unhealthyAfterSeconds) &&
        (candidate == nullptr || since < oldest)) {
      candidate = &name;
      oldest = since;
    }
  }
  if (candidate == nullptr) {
    return decision;
  }
  if (terminating || awaitReady_) {
    decision.message += "; restart of " + *candidate + " waits for the previous restart to finish";
    return decision;
  }
  // A pod the query flags may still be Ready and carry load: restarting it takes it out of service.
  bool candidateReady = false;
  for (const PodView& pod : pods) {
    candidateReady = candidateReady || (pod.name == *candidate && pod.ready);
  }
  const int32_t readyAfter = ready - (candidateReady ? 1 : 0);
  if (readyAfter < minReplicas) {
    decision.message += "; restart of " + *candidate + " held: it would leave " + std::to_string(readyAfter) +
                        " ready, minReplicas " + std::to_string(minReplicas);
    return decision;
  }
  decision.restartPod = *candidate;
  return decision;
}

void HealthPolicy::recordRestart(const std::string& pod, int32_t readyBefore) {
  unhealthySince_.erase(pod);
  awaitReady_ = readyBefore;
}

}  // namespace mp::op
