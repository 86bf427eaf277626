#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/service_policy_types.h"
#include "api/workload_objects.h"
#include "policy/scaling_policy.h"

namespace mp::op {

// What to do about unhealthy pods this round.
struct HealthDecision {
  std::optional<std::string> restartPod;   // evict this pod so its ReplicaSet replaces it
  std::vector<std::string> unhealthyPods;  // currently reported unhealthy, sorted
  bool known = true;                       // false when the health query could not be read
  std::string reason;                      // Healthy condition reason
  std::string message;
};

// Restarts pods that stay unhealthy: one at a time, never when that would leave fewer than minReplicas
// pods ready (a flagged pod that is still Ready counts as ready until it goes), never on a failed health
// query. Pure (no I/O); remembers since when each pod has been unhealthy.
// Thread-safety: none; the reconciler owns one per policy and calls it from one thread at a time.
class HealthPolicy {
 public:
  // `unhealthy` is the set of pod names the health query returned, or nullopt when it failed.
  HealthDecision evaluate(const HealthSpec& spec, int32_t minReplicas, const std::vector<PodView>& pods,
                          const std::optional<std::set<std::string>>& unhealthy, SteadyTime now);

  // Tells the policy a restart was issued, so no other pod is touched until the replacement is ready.
  void recordRestart(const std::string& pod, int32_t readyBefore);

 private:
  std::map<std::string, SteadyTime> unhealthySince_;
  std::optional<int32_t> awaitReady_;  // ready count to see again before the next restart
};

}  // namespace mp::op
