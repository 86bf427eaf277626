#include "controller/reconciler.h"

#include <set>

#include "api/workload_objects.h"
#include "base/log.h"
#include "runtime/time_format.h"

namespace mp::op {
namespace {

using nlohmann::json;

constexpr const char* kComponent = "platform-operator";
constexpr std::chrono::milliseconds kConflictRetry{200};
constexpr std::chrono::milliseconds kErrorRetry{1000};

std::string nowText() {
  return formatRfc3339(WallClock::now());
}

ReconcileOutcome retryAfter(std::chrono::milliseconds delay, bool ok = false) {
  return {ok, delay};
}

Condition condition(const std::string& type, bool status, const std::string& reason,
                    const std::string& message, int64_t generation) {
  return {type, status ? "True" : "False", reason, message, "", generation};
}

bool sameStatus(const ServicePolicyStatus& a, const ServicePolicyStatus& b) {
  return statusToJson(a) == statusToJson(b);
}

}  // namespace

Reconciler::Reconciler(KubeClient& kube, const PrometheusClient& prometheus, OperatorMetrics& metrics,
                       std::function<KubeClient::Deadline()> writeDeadline, std::string identity)
    : kube_(kube),
      prometheus_(prometheus),
      metrics_(metrics),
      writeDeadline_(std::move(writeDeadline)),
      identity_(std::move(identity)) {}

Status Reconciler::recordEvent(const json& policyObject, const std::string& reason,
                               const std::string& message, bool warning) {
  auto deadline = writeDeadline_();
  if (!deadline) {
    return Error{0, "NotLeader", "lost leadership"};
  }
  json event = makeEvent(policyObject, reason, message, warning, kComponent, identity_,
                         formatRfc3339(WallClock::now(), true));
  std::string ns = event["metadata"]["namespace"];
  auto created = kube_.create(resourcePath("", "v1", ns, "events"), event, deadline);
  metrics_.decision(reason);
  log::info("event", {{"policy", ns + "/" + event["involvedObject"]["name"].get<std::string>()},
                    {"reason", reason},
                    {"message", message}});
  if (!created.ok()) {
    metrics_.error("kubernetes");
    log::warn("recording an Event failed", {{"error", created.error().message}});
    return created.error();
  }
  return okStatus();
}

Status Reconciler::writeStatus(const json& policyObject, const ServicePolicy& policy,
                               const ServicePolicyStatus& status) {
  if (sameStatus(policy.status, status)) {
    return okStatus();
  }
  auto deadline = writeDeadline_();
  if (!deadline) {
    return Error{0, "NotLeader", "lost leadership"};
  }
  json object = policyObject;
  object["status"] = statusToJson(status);
  auto written = kube_.update(resourcePath(kPolicyGroup, kPolicyVersion, policy.metadata.namespaceName,
                                           kPolicyPlural, policy.metadata.name, "status"),
                              object, deadline);
  if (!written.ok()) {
    return written.error();
  }
  return okStatus();
}

void Reconciler::evictPod(const json& policyObject, const HealthSpec& health, const std::string& pod,
                          int32_t readyBefore, PolicyState& state, std::string& healthMessage) {
  const std::string ns = policyObject["metadata"].value("namespace", "");
  const std::string key = ns + "/" + policyObject["metadata"].value("name", "");
  // The Eviction API, not DELETE: the API server checks the pod's PodDisruptionBudget first.
  json eviction = {
      {"apiVersion", "policy/v1"}, {"kind", "Eviction"}, {"metadata", {{"name", pod}, {"namespace", ns}}}};
  auto deadline = writeDeadline_();
  if (!deadline) {
    return;
  }
  auto evicted = kube_.create(resourcePath("", "v1", ns, "pods", pod, "eviction"), eviction, deadline);
  if (!evicted.ok() && evicted.error().httpStatus == 429) {
    // A disruption budget says "not now": nothing is recorded, the next sync asks again.
    healthMessage += "; eviction of " + pod + " refused (429): " + evicted.error().message;
    log::info("eviction refused", {{"policy", key}, {"pod", pod}, {"error", evicted.error().message}});
    return;
  }
  if (!evicted.ok() && evicted.error().httpStatus != 404) {
    metrics_.error("kubernetes");
    healthMessage += "; eviction of " + pod + " failed: " + evicted.error().message;
    log::warn("restarting pod failed", {{"policy", key}, {"pod", pod}, {"error", evicted.error().message}});
    return;
  }
  state.health.recordRestart(pod, readyBefore);
  std::string message = "restarted pod " + pod + " (evicted): unhealthy for at least " +
                        std::to_string(health.unhealthyAfterSeconds) + "s by health query " + health.query;
  log::info("pod restarted", {{"policy", key}, {"pod", pod}});
  recordEvent(policyObject, "PodRestarted", message, true);
}

Result<std::vector<ReplicaClaim>> Reconciler::otherOwners(const ServicePolicy& policy,
                                                          const std::string& deployment) {
  const std::string& ns = policy.metadata.namespaceName;
  std::vector<ReplicaClaim> claims;
  auto hpas = kube_.get(resourcePath("autoscaling", "v2", ns, "horizontalpodautoscalers"));
  if (hpas.ok()) {
    claims = readReplicaClaims(hpas.value(), "HorizontalPodAutoscaler");
  } else if (hpas.error().httpStatus != 404) {
    return hpas.error();  // 404: the cluster does not serve autoscaling/v2, so there is no HPA to see
  }
  auto policies = kube_.get(resourcePath(kPolicyGroup, kPolicyVersion, ns, kPolicyPlural));
  if (!policies.ok()) {
    return policies.error();
  }
  for (ReplicaClaim& claim : readReplicaClaims(policies.value(), kPolicyKind)) {
    claims.push_back(std::move(claim));
  }
  const ReplicaClaim self{kPolicyKind, policy.metadata.name, "Deployment", deployment,
                          policy.metadata.creationTimestamp};
  return otherReplicaOwners(deployment, self, claims);
}

std::optional<double> Reconciler::readMetric(const std::string& query, std::string& error,
                                             std::string& reason) {
  auto samples = prometheus_.query(query);
  if (!samples.ok()) {
    metrics_.error("prometheus");
    error = samples.error().message;
    reason = samples.error().reason;
    return std::nullopt;
  }
  auto total = totalValue(samples.value());
  if (!total) {
    error = "query returned no data";
    reason = "EmptyResult";
  }
  return total;
}

ReconcileOutcome Reconciler::reconcile(const std::string& namespaceName, const std::string& name) {
  const std::string key = namespaceName + "/" + name;
  auto fetched = kube_.get(resourcePath(kPolicyGroup, kPolicyVersion, namespaceName, kPolicyPlural, name));
  if (!fetched.ok()) {
    if (fetched.error().httpStatus == 404) {
      states_.erase(key);
      metrics_.policyDeleted(namespaceName, name);
      return {};
    }
    metrics_.error("kubernetes");
    log::warn("reading policy failed", {{"policy", key}, {"error", fetched.error().message}});
    return retryAfter(kErrorRetry);
  }
  const json& policyObject = fetched.value();
  auto parsed = policyFromJson(policyObject);
  if (!parsed.ok()) {
    log::warn("unreadable policy object", {{"policy", key}, {"error", parsed.error().message}});
    return {};
  }
  const ServicePolicy& policy = parsed.value();
  PolicyState& state = states_[key];
  if (state.uid != policy.metadata.uid) {
    state = PolicyState{};  // a new object under an old name starts from scratch
    state.uid = policy.metadata.uid;
  }
  const int64_t generation = policy.metadata.generation;
  const std::string now = nowText();
  ServicePolicyStatus status = policy.status;
  status.observedGeneration = generation;
  auto finish = [&](bool ok) -> ReconcileOutcome {
    Status written = writeStatus(policyObject, policy, status);
    if (!written.ok()) {
      if (written.error().httpStatus == 409) {
        metrics_.error("conflict");
        metrics_.reconciled(false);
        return retryAfter(kConflictRetry);
      }
      if (written.error().reason != "NotLeader") {
        metrics_.error("kubernetes");
        log::warn("writing status failed", {{"policy", key}, {"error", written.error().message}});
      }
      metrics_.reconciled(false);
      return retryAfter(kErrorRetry);
    }
    metrics_.reconciled(ok);
    return ok ? ReconcileOutcome{} : retryAfter(kErrorRetry);
  };

  // 1. The spec: an invalid one is reported and nothing else happens.
  auto spec = parsePolicySpec(policy.rawSpec);
  std::vector<std::string> problems;
  if (!spec.ok()) {
    problems.push_back(spec.error().message);
  } else {
    problems = validatePolicySpec(spec.value());
  }
  if (!problems.empty()) {
    std::string message;
    for (const std::string& p : problems) {
      message += (message.empty() ? "" : "; ") + p;
    }
    setCondition(status.conditions, condition("Ready", false, "InvalidSpec", message, generation), now);
    metrics_.error("spec");
    if (state.lastHoldEvent != "InvalidSpec:" + message) {
      if (recordEvent(policyObject, "InvalidSpec", message, true).ok()) {
        state.lastHoldEvent = "InvalidSpec:" + message;
      }
    }
    return finish(true);
  }
  const ServicePolicySpec& s = spec.value();

  // 2. The target and its pods.
  const std::string deploymentPath =
      resourcePath("apps", "v1", namespaceName, "deployments", s.targetRef.name);
  auto deploymentObject = kube_.get(deploymentPath);
  if (!deploymentObject.ok()) {
    bool missing = deploymentObject.error().httpStatus == 404;
    setCondition(status.conditions,
                 condition("Ready", false, missing ? "TargetNotFound" : "TargetUnreadable",
                           missing ? "Deployment " + s.targetRef.name + " not found"
                                   : deploymentObject.error().message,
                           generation),
                 now);
    if (!missing) {
      metrics_.error("kubernetes");
    }
    return finish(missing);
  }
  auto deployment = readDeployment(deploymentObject.value());
  if (!deployment.ok()) {
    setCondition(status.conditions,
                 condition("Ready", false, deployment.error().reason, deployment.error().message, generation),
                 now);
    return finish(true);
  }
  const DeploymentView& target = deployment.value();
  auto podList = kube_.get(resourcePath("", "v1", namespaceName, "pods") +
                           "?labelSelector=" + urlEncode(target.labelSelector));
  if (!podList.ok()) {
    metrics_.error("kubernetes");
    log::warn("listing pods failed", {{"policy", key}, {"error", podList.error().message}});
    return retryAfter(kErrorRetry);
  }
  std::vector<PodView> pods;
  int32_t ready = 0;
  for (const json& item : podList.value().value("items", json::array())) {
    PodView pod = readPod(item);
    ready += pod.ready ? 1 : 0;
    pods.push_back(pod);
  }

  // Who owns the count: a paused policy and one that another owner overrides only report.
  auto owners = otherOwners(policy, target.name);
  if (!owners.ok()) {
    metrics_.error("kubernetes");
    log::warn("listing other replica owners failed", {{"policy", key}, {"error", owners.error().message}});
    return retryAfter(kErrorRetry);
  }
  const std::string ownersText = describeClaims(owners.value());

  // 3. Metrics and the scaling decision.
  ScaleInput input;
  input.currentReplicas = target.specReplicas;
  input.readyReplicas = ready;
  input.rollingOut = target.rollingOut;
  input.rolloutMessage = target.rolloutMessage;
  if (policy.metadata.paused) {
    input.holdReason = "Paused";
    input.holdMessage = std::string("paused by the annotation ") + kPausedAnnotation + "=true";
  } else if (!ownersText.empty()) {
    input.holdReason = "OtherOwner";
    input.holdMessage = ownersText + " also set" + (owners.value().size() == 1 ? "s" : "") +
                        " the replicas of Deployment " + target.name + "; the count is left to " +
                        (owners.value().size() == 1 ? "it" : "them");
  }
  std::string metricsReason;
  for (const MetricSpec& metric : s.metrics) {
    MetricReading reading{metric.name, std::nullopt, ""};
    std::string reason;
    reading.value = readMetric(metric.query, reading.error, reason);
    if (!reading.value && (metricsReason.empty() || reason == "PrometheusUnreachable")) {
      metricsReason = reason;
    }
    input.readings.push_back(reading);
  }
  auto steadyNow = std::chrono::steady_clock::now();
  ScaleDecision decision = state.scaling.decide(s, input, steadyNow);
  status.metrics = decision.metrics;
  status.currentReplicas = ready;
  status.desiredReplicas = decision.desiredReplicas;
  std::vector<OperatorMetrics::PolicyMetric> observed;
  for (std::size_t i = 0; i < s.metrics.size() && i < input.readings.size(); ++i) {
    observed.push_back({s.metrics[i].name, input.readings[i].value, s.metrics[i].targetPerReplica});
  }
  metrics_.policyObserved(namespaceName, name, decision.desiredReplicas, ready, observed);
  setCondition(status.conditions,
               decision.metricsAvailable
                   ? condition("MetricsAvailable", true, "MetricsRead", "every metric query returned a value",
                               generation)
                   : condition("MetricsAvailable", false, metricsReason, decision.metricsMessage, generation),
               now);
  setCondition(status.conditions,
               policy.metadata.paused
                   ? condition("Paused", true, "PausedByAnnotation",
                               std::string("the annotation ") + kPausedAnnotation +
                                   "=true: no scaling and no pod restarts until it is removed",
                               generation)
                   : condition("Paused", false, "NotPaused", "the operator acts on this policy", generation),
               now);
  setCondition(
      status.conditions,
      ownersText.empty()
          ? condition("ReplicasOwned", true, "SoleOwner",
                      "nothing else the operator can see sets the replicas of Deployment " + target.name,
                      generation)
          : condition("ReplicasOwned", false, "OtherOwner", input.holdMessage, generation),
      now);
  setCondition(status.conditions,
               target.rolloutStuck
                   ? condition("RolloutStuck", true, "ProgressDeadlineExceeded",
                               "Deployment " + target.name + " " + target.rolloutMessage +
                                   "; scaling and pod restarts are no longer held for it",
                               generation)
                   : condition("RolloutStuck", false, "NoStuckRollout",
                               "no rollout of Deployment " + target.name + " is past its progress deadline",
                               generation),
               now);
  if (target.rolloutStuck && !state.stuckReported) {
    state.stuckReported =
        recordEvent(policyObject, "RolloutStuck",
                    "Deployment " + target.name + " " + target.rolloutMessage +
                        "; scaling and pod restarts resume although the rollout has not finished",
                    true)
            .ok();
  } else if (!target.rolloutStuck) {
    state.stuckReported = false;
  }
  setCondition(
      status.conditions,
      decision.limited
          ? condition("ScalingLimited", true, decision.limitedReason, decision.limitedMessage, generation)
          : condition("ScalingLimited", false, "DesiredWithinRange",
                      "the desired count is within minReplicas, maxReplicas and step limits", generation),
      now);

  if (decision.scale) {
    auto deadline = writeDeadline_();
    if (!deadline) {
      return retryAfter(kErrorRetry);
    }
    json scale = {
        {"apiVersion", "autoscaling/v1"},
        {"kind", "Scale"},
        {"metadata",
         {{"name", target.name}, {"namespace", namespaceName}, {"resourceVersion", target.resourceVersion}}},
        {"spec", {{"replicas", decision.desiredReplicas}}}};
    auto scaled = kube_.update(deploymentPath + "/scale", scale, deadline);
    if (!scaled.ok()) {
      // A 409 means the Deployment changed since we read it: decide again on fresh data.
      metrics_.error(scaled.error().httpStatus == 409 ? "conflict" : "kubernetes");
      log::warn("scaling failed", {{"policy", key}, {"error", scaled.error().message}});
      metrics_.reconciled(false);
      return retryAfter(scaled.error().httpStatus == 409 ? kConflictRetry : kErrorRetry);
    }
    state.scaling.recordApplied(decision, target.specReplicas, steadyNow);
    status.lastScaleTime = now;
    state.lastHoldEvent.clear();
    log::info("scaled", {{"policy", key},
                       {"deployment", target.name},
                       {"from", target.specReplicas},
                       {"to", decision.desiredReplicas},
                       {"message", decision.message}});
    recordEvent(policyObject, "Scaled", decision.message, false);
  } else if (decision.reason == "Steady") {
    state.lastHoldEvent.clear();
  } else if (const std::string hold =
                 "ScaleHeld:" + decision.reason + (decision.reason == "OtherOwner" ? ":" + ownersText : "");
             state.lastHoldEvent != hold) {
    // One Event when a hold begins (or its cause, or the set of other owners, changes), not one per resync.
    if (recordEvent(policyObject, "ScaleHeld", decision.reason + ": " + decision.message,
                    decision.reason == "MetricsUnavailable" || decision.reason == "OtherOwner")
            .ok()) {
      state.lastHoldEvent = hold;
    }
  }

  // 4. Health: restart one pod that stayed unhealthy too long.
  if (!s.health) {
    setCondition(status.conditions,
                 condition("Healthy", true, "NotConfigured", "no health query in the spec", generation), now);
  } else {
    std::optional<std::set<std::string>> unhealthy;
    auto samples = prometheus_.query(s.health->query);
    if (samples.ok()) {
      unhealthy.emplace();
      for (const PromSample& sample : samples.value()) {
        auto label = sample.labels.find(s.health->podLabel);
        if (label != sample.labels.end()) {
          unhealthy->insert(label->second);
        }
      }
    } else {
      metrics_.error("prometheus");
    }
    HealthDecision health = state.health.evaluate(*s.health, s.minReplicas, pods, unhealthy, steadyNow);
    Condition healthy = condition("Healthy", health.known && health.unhealthyPods.empty(), health.reason,
                                  health.message, generation);
    if (!health.known) {
      healthy.status = "Unknown";
      healthy.message += ": " + samples.error().message;
    }
    if (health.restartPod && policy.metadata.paused) {
      healthy.message += "; restart of " + *health.restartPod + " held: the policy is paused";
      health.restartPod.reset();
    }
    if (health.restartPod && target.rollingOut) {
      // A rollout replaces pods anyway; restarting on top of it only adds churn (until it is stuck).
      healthy.message += "; restart of " + *health.restartPod + " held while rolling out";
      health.restartPod.reset();
    }
    if (health.restartPod) {
      if (!writeDeadline_()) {
        return retryAfter(kErrorRetry);
      }
      evictPod(policyObject, *s.health, *health.restartPod, ready, state, healthy.message);
    }
    setCondition(status.conditions, healthy, now);
  }

  setCondition(status.conditions,
               condition("Ready", true, "Reconciled", "Deployment " + target.name + ": " + decision.reason,
                         generation),
               now);
  return finish(true);
}

}  // namespace mp::op
