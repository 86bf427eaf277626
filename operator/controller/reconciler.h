#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/service_policy_types.h"
#include "client/kube_client.h"
#include "client/prometheus_client.h"
#include "policy/health_policy.h"
#include "policy/replica_owners.h"
#include "policy/scaling_policy.h"
#include "runtime/operator_metrics.h"

namespace mp::op {

// What the work queue should do with a key after a reconcile.
struct ReconcileOutcome {
  bool ok = true;
  std::optional<std::chrono::milliseconds> requeueAfter;  // nullopt: wait for the next event or resync
};

// Brings one ServicePolicy's target to the state its spec and the metrics call for: reads the policy,
// the Deployment, its pods and Prometheus; decides; scales, restarts, records Events and writes status.
// Level-triggered and idempotent: it reads everything afresh each time and writes only what differs.
// Thread-safety: none; one worker thread calls reconcile() (per-policy state is not locked).
class Reconciler {
 public:
  // `writeDeadline` is asked before every write: nullopt the moment leadership is lost, otherwise the
  // instant the write must be over by (the end of the Lease), which bounds its HTTP timeout.
  Reconciler(KubeClient& kube, const PrometheusClient& prometheus, OperatorMetrics& metrics,
             std::function<KubeClient::Deadline()> writeDeadline, std::string identity);

  ReconcileOutcome reconcile(const std::string& namespaceName, const std::string& name);

  // Drops the memory kept for policies (stabilization history, health clocks), e.g. on losing the lease.
  void forgetAll() { states_.clear(); }

 private:
  struct PolicyState {
    std::string uid;
    ScalingPolicy scaling;
    HealthPolicy health;
    std::string lastHoldEvent;   // reason + message kind of the last ScaleHeld/InvalidSpec Event
    bool stuckReported = false;  // a RolloutStuck Event was recorded for the current stuck rollout
  };

  // Who else sets the target's replica count (HorizontalPodAutoscalers, older ServicePolicies in the
  // namespace), or an Error when that cannot be read.
  Result<std::vector<ReplicaClaim>> otherOwners(const ServicePolicy& policy, const std::string& deployment);

  Status recordEvent(const nlohmann::json& policyObject, const std::string& reason,
                     const std::string& message, bool warning);
  Status writeStatus(const nlohmann::json& policyObject, const ServicePolicy& policy,
                     const ServicePolicyStatus& status);
  // Evicts `pod` (policy/v1 Eviction); a 429 from a PodDisruptionBudget leaves it for the next sync.
  // What happened is appended to `healthMessage`.
  void evictPod(const nlohmann::json& policyObject, const HealthSpec& health, const std::string& pod,
                int32_t readyBefore, PolicyState& state, std::string& healthMessage);
  std::optional<double> readMetric(const std::string& query, std::string& error, std::string& reason);

  KubeClient& kube_;
  const PrometheusClient& prometheus_;
  OperatorMetrics& metrics_;
  std::function<KubeClient::Deadline()> writeDeadline_;
  std::string identity_;
  std::map<std::string, PolicyState> states_;
};

}  // namespace mp::op
