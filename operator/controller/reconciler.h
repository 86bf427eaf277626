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
  // namespace), or a failed Status when that cannot be read.
  StatusOr<std::vector<ReplicaClaim>> otherOwners(const ServicePolicy& policy, const std::string& deployment);

  Status recordEvent(const nlohmann::json& policyObject, const std::string& reason,
                     const std::string& message, bool warning);
  Status writeStatus(const nlohmann::json& policyObject, const ServicePolicy& policy,
                     const ServicePolicyStatus& status);
  // Evicts `pod` (policy/v1 Eviction); a 429 from a PodDisruptionBudget leaves it for the next sync.
  // What happened is appended to `healthMessage`.
  void evictPod(const nlohmann::json& policyObject, const HealthSpec& health, const std::string& pod,
                int32_t readyBefore, PolicyState& state, std::string& healthMessage);
  // The total of `query`'s samples; Prometheus's failure (reason PrometheusUnreachable, ...), or
  // kNotFound with reason EmptyResult when the query returned no sample.
  StatusOr<double> readMetric(const std::string& query);

  // One reconcile's working state, filled in by the steps below.
  struct Pass;
  // The steps of reconcile(), in this order. Each returns the outcome when the pass ends there (nullopt:
  // the next step follows) and names itself (`step`) in what it logs.
  // readPolicy: the object (gone: its memory is dropped) and this policy's kept state.
  std::optional<ReconcileOutcome> readPolicy(Pass& pass);
  // checkSpec: an invalid spec sets Ready=False InvalidSpec, records one Event, and ends the pass.
  std::optional<ReconcileOutcome> checkSpec(Pass& pass);
  // observeTarget: the Deployment, its pods, and whoever else sets its replicas.
  std::optional<ReconcileOutcome> observeTarget(Pass& pass);
  // decideScale: reads the metrics, asks the ScalingPolicy, and sets the conditions that report them
  // (their pure parts: controller/scale_step.h).
  void decideScale(Pass& pass);
  void readMetrics(Pass& pass);         // the spec's queries into input.readings and metricsReason
  void reportDecision(Pass& pass);      // the counts and metrics into status and the policy's gauges
  void reportStuckRollout(Pass& pass);  // one RolloutStuck Event per stuck rollout
  // applyScale: writes the decision through /scale, or records the hold (one Event per hold).
  std::optional<ReconcileOutcome> applyScale(Pass& pass);
  // reconcileHealth: restarts one pod that stayed unhealthy too long (unless paused or rolling out).
  std::optional<ReconcileOutcome> reconcileHealth(Pass& pass);
  // Writes the status (when it changed) and says when to come back.
  ReconcileOutcome finish(Pass& pass, bool ok);
  void logStepError(const Pass& pass, const char* step, const std::string& what, const Status& error);

  KubeClient& kube_;
  const PrometheusClient& prometheus_;
  OperatorMetrics& metrics_;
  std::function<KubeClient::Deadline()> writeDeadline_;
  std::string identity_;
  std::map<std::string, PolicyState> states_;
};

}  // namespace mp::op
