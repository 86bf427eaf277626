#include "controller/reconciler.h"

#include <set>

#include "api/conditions.h"
#include "api/events.h"
#include "api/workload_objects.h"
#include "base/log.h"
#include "controller/scale_step.h"
#include "runtime/time_format.h"

namespace mp::op {
namespace {

using nlohmann::json;
using Failure = OperatorMetrics::Failure;

constexpr const char* kComponent = "platform-operator";
constexpr std::chrono::milliseconds kConflictRetry{200};
constexpr std::chrono::milliseconds kErrorRetry{1000};

// A write not sent because this replica no longer holds the Lease: nothing to log or count.
constexpr const char* kNotLeader = "NotLeader";
Status notLeader() {
  return Status::unavailable("lost leadership").withReason(kNotLeader);
}

std::string nowText() {
  return formatRfc3339(WallClock::now());
}

ReconcileOutcome retryAfter(std::chrono::milliseconds delay, bool ok = false) {
  return {ok, delay};
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
    return notLeader();
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
    metrics_.error(Failure::kKubernetes);
    log::warn("recording an Event failed", {{"error", created.status().message()}});
    return created.status();
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
    return notLeader();
  }
  json object = policyObject;
  object["status"] = statusToJson(status);
  auto written = kube_.update(resourcePath(kPolicyGroup, kPolicyVersion, policy.metadata.namespaceName,
                                           kPolicyPlural, policy.metadata.name, "status"),
                              object, deadline);
  if (!written.ok()) {
    return written.status();
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
  if (!evicted.ok() && evicted.status().httpStatus() == 429) {
    // A disruption budget says "not now": nothing is recorded, the next sync asks again.
    healthMessage += "; eviction of " + pod + " refused (429): " + evicted.status().message();
    log::info("eviction refused", {{"policy", key}, {"pod", pod}, {"error", evicted.status().message()}});
    return;
  }
  if (!evicted.ok() && evicted.status().code() != Code::kNotFound) {
    metrics_.error(Failure::kKubernetes);
    healthMessage += "; eviction of " + pod + " failed: " + evicted.status().message();
    log::warn("restarting pod failed",
              {{"policy", key}, {"pod", pod}, {"error", evicted.status().message()}});
    return;
  }
  state.health.recordRestart(pod, readyBefore);
  std::string message = "restarted pod " + pod + " (evicted): unhealthy for at least " +
                        std::to_string(health.unhealthyAfterSeconds) + "s by health query " + health.query;
  log::info("pod restarted", {{"policy", key}, {"pod", pod}});
  recordEvent(policyObject, event::kPodRestarted, message, true);
}

StatusOr<std::vector<ReplicaClaim>> Reconciler::otherOwners(const ServicePolicy& policy,
                                                            const std::string& deployment) {
  const std::string& ns = policy.metadata.namespaceName;
  std::vector<ReplicaClaim> claims;
  auto hpas = kube_.get(resourcePath("autoscaling", "v2", ns, "horizontalpodautoscalers"));
  if (hpas.ok()) {
    claims = readReplicaClaims(hpas.value(), "HorizontalPodAutoscaler");
  } else if (hpas.status().code() != Code::kNotFound) {
    return hpas.status();  // 404: the cluster does not serve autoscaling/v2, so there is no HPA to see
  }
  auto policies = kube_.get(resourcePath(kPolicyGroup, kPolicyVersion, ns, kPolicyPlural));
  if (!policies.ok()) {
    return policies.status();
  }
  for (ReplicaClaim& claim : readReplicaClaims(policies.value(), kPolicyKind)) {
    claims.push_back(std::move(claim));
  }
  const ReplicaClaim self{kPolicyKind, policy.metadata.name, "Deployment", deployment,
                          policy.metadata.creationTimestamp};
  return otherReplicaOwners(deployment, self, claims);
}

StatusOr<double> Reconciler::readMetric(const std::string& query) {
  auto samples = prometheus_.query(query);
  if (!samples.ok()) {
    metrics_.error(Failure::kPrometheus);
    return samples.status();
  }
  auto total = totalValue(samples.value());
  if (!total) {
    return Status::notFound("query returned no data").withReason(reason::kEmptyResult);
  }
  return *total;
}

// One reconcile's working state, filled in step by step.
struct Reconciler::Pass {
  std::string key;  // namespace/name, for logs
  std::string namespaceName;
  std::string name;
  json policyObject;
  ServicePolicy policy;
  PolicyState* state = nullptr;
  ServicePolicyStatus status;  // what the pass writes back at the end
  int64_t generation = 0;
  std::string now;
  SteadyTime steadyNow;
  // checkSpec
  ServicePolicySpec spec;
  // observeTarget
  std::string deploymentPath;
  DeploymentView target;
  std::vector<PodView> pods;
  int32_t ready = 0;
  std::vector<ReplicaClaim> owners;
  std::string ownersText;
  // decideScale
  ScaleInput input;
  std::string metricsReason;  // of the failed metric reads: the first, or PrometheusUnreachable
  ScaleDecision decision;
};

ReconcileOutcome Reconciler::reconcile(const std::string& namespaceName, const std::string& name) {
  Pass pass;
  pass.key = namespaceName + "/" + name;
  pass.namespaceName = namespaceName;
  pass.name = name;
  if (auto ended = readPolicy(pass)) {
    return *ended;
  }
  if (auto ended = checkSpec(pass)) {
    return *ended;
  }
  if (auto ended = observeTarget(pass)) {
    return *ended;
  }
  decideScale(pass);
  if (auto ended = applyScale(pass)) {
    return *ended;
  }
  if (auto ended = reconcileHealth(pass)) {
    return *ended;
  }
  setCondition(pass.status.conditions,
               makeCondition(condition::kReady, true, reason::kReconciled,
                             "Deployment " + pass.target.name + ": " + pass.decision.reason, pass.generation),
               pass.now);
  return finish(pass, true);
}

void Reconciler::logStepError(const Pass& pass, const char* step, const std::string& what,
                              const Status& error) {
  log::warn(what + " failed", {{"policy", pass.key}, {"step", step}, {"error", error.message()}});
}

std::optional<ReconcileOutcome> Reconciler::readPolicy(Pass& pass) {
  auto fetched =
      kube_.get(resourcePath(kPolicyGroup, kPolicyVersion, pass.namespaceName, kPolicyPlural, pass.name));
  if (!fetched.ok()) {
    if (fetched.status().code() == Code::kNotFound) {
      states_.erase(pass.key);
      metrics_.policyDeleted(pass.namespaceName, pass.name);
      return ReconcileOutcome{};
    }
    metrics_.error(Failure::kKubernetes);
    logStepError(pass, "readPolicy", "reading policy", fetched.status());
    return retryAfter(kErrorRetry);
  }
  pass.policyObject = std::move(fetched).value();
  auto parsed = policyFromJson(pass.policyObject);
  if (!parsed.ok()) {
    log::warn("unreadable policy object",
              {{"policy", pass.key}, {"step", "readPolicy"}, {"error", parsed.status().message()}});
    return ReconcileOutcome{};
  }
  pass.policy = std::move(parsed).value();
  PolicyState& state = states_[pass.key];
  if (state.uid != pass.policy.metadata.uid) {
    state = PolicyState{};  // a new object under an old name starts from scratch
    state.uid = pass.policy.metadata.uid;
  }
  pass.state = &state;
  pass.generation = pass.policy.metadata.generation;
  pass.now = nowText();
  pass.steadyNow = std::chrono::steady_clock::now();
  pass.status = pass.policy.status;
  pass.status.observedGeneration = pass.generation;
  return std::nullopt;
}

ReconcileOutcome Reconciler::finish(Pass& pass, bool ok) {
  Status written = writeStatus(pass.policyObject, pass.policy, pass.status);
  if (!written.ok()) {
    if (written.code() == Code::kConflict) {
      metrics_.error(Failure::kConflict);
      metrics_.reconciled(false);
      return retryAfter(kConflictRetry);
    }
    if (written.reason() != kNotLeader) {
      metrics_.error(Failure::kKubernetes);
      logStepError(pass, "finish", "writing status", written);
    }
    metrics_.reconciled(false);
    return retryAfter(kErrorRetry);
  }
  metrics_.reconciled(ok);
  return ok ? ReconcileOutcome{} : retryAfter(kErrorRetry);
}

std::optional<ReconcileOutcome> Reconciler::checkSpec(Pass& pass) {
  // An invalid spec is reported and nothing else happens.
  auto spec = parsePolicySpec(pass.policy.rawSpec);
  std::vector<std::string> problems;
  if (!spec.ok()) {
    problems.push_back(spec.status().message());
  } else {
    problems = validatePolicySpec(spec.value());
  }
  if (problems.empty()) {
    pass.spec = std::move(spec).value();
    return std::nullopt;
  }
  std::string message;
  for (const std::string& p : problems) {
    message += (message.empty() ? "" : "; ") + p;
  }
  setCondition(pass.status.conditions,
               makeCondition(condition::kReady, false, reason::kInvalidSpec, message, pass.generation),
               pass.now);
  metrics_.error(Failure::kSpec);
  const std::string hold = std::string(event::kInvalidSpec) + ":" + message;
  if (pass.state->lastHoldEvent != hold) {
    if (recordEvent(pass.policyObject, event::kInvalidSpec, message, true).ok()) {
      pass.state->lastHoldEvent = hold;
    }
  }
  return finish(pass, true);
}

std::optional<ReconcileOutcome> Reconciler::observeTarget(Pass& pass) {
  const ServicePolicySpec& s = pass.spec;
  pass.deploymentPath = resourcePath("apps", "v1", pass.namespaceName, "deployments", s.targetRef.name);
  auto deploymentObject = kube_.get(pass.deploymentPath);
  if (!deploymentObject.ok()) {
    bool missing = deploymentObject.status().code() == Code::kNotFound;
    setCondition(
        pass.status.conditions,
        makeCondition(
            condition::kReady, false, missing ? reason::kTargetNotFound : reason::kTargetUnreadable,
            missing ? "Deployment " + s.targetRef.name + " not found" : deploymentObject.status().message(),
            pass.generation),
        pass.now);
    if (!missing) {
      metrics_.error(Failure::kKubernetes);
    }
    return finish(pass, missing);
  }
  auto deployment = readDeployment(deploymentObject.value());
  if (!deployment.ok()) {
    setCondition(pass.status.conditions,
                 makeCondition(condition::kReady, false, deployment.status().reason(),
                               deployment.status().message(), pass.generation),
                 pass.now);
    return finish(pass, true);
  }
  pass.target = std::move(deployment).value();
  auto podList = kube_.get(resourcePath("", "v1", pass.namespaceName, "pods") +
                           "?labelSelector=" + urlEncode(pass.target.labelSelector));
  if (!podList.ok()) {
    metrics_.error(Failure::kKubernetes);
    logStepError(pass, "observeTarget", "listing pods", podList.status());
    return retryAfter(kErrorRetry);
  }
  for (const json& item : podList.value().value("items", json::array())) {
    PodView pod = readPod(item);
    pass.ready += pod.ready ? 1 : 0;
    pass.pods.push_back(pod);
  }
  // Who owns the count: a paused policy and one that another owner overrides only report.
  auto owners = otherOwners(pass.policy, pass.target.name);
  if (!owners.ok()) {
    metrics_.error(Failure::kKubernetes);
    logStepError(pass, "observeTarget", "listing other replica owners", owners.status());
    return retryAfter(kErrorRetry);
  }
  pass.owners = std::move(owners).value();
  pass.ownersText = describeClaims(pass.owners);
  return std::nullopt;
}

void Reconciler::decideScale(Pass& pass) {
  pass.input =
      scaleInputFor(pass.target, pass.ready, pass.policy.metadata.paused, pass.owners, pass.ownersText);
  readMetrics(pass);
  pass.steadyNow = std::chrono::steady_clock::now();
  pass.decision = pass.state->scaling.decide(pass.spec, pass.input, pass.steadyNow);
  reportDecision(pass);
  const bool otherOwners = !pass.ownersText.empty();
  const ScaleFindings findings{pass.target,    pass.policy.metadata.paused, otherOwners,
                               pass.input,     pass.metricsReason,          pass.decision,
                               pass.generation};
  for (Condition& c : conditionsFor(findings)) {
    setCondition(pass.status.conditions, std::move(c), pass.now);
  }
  reportStuckRollout(pass);
}

void Reconciler::readMetrics(Pass& pass) {
  for (const MetricSpec& metric : pass.spec.metrics) {
    MetricReading reading{metric.name, std::nullopt, ""};
    StatusOr<double> value = readMetric(metric.query);
    if (value.ok()) {
      reading.value = *value;
    } else {
      reading.error = value.status().message();
      if (pass.metricsReason.empty() || value.status().reason() == reason::kPrometheusUnreachable) {
        pass.metricsReason = value.status().reason();
      }
    }
    pass.input.readings.push_back(reading);
  }
}

void Reconciler::reportDecision(Pass& pass) {
  const ServicePolicySpec& s = pass.spec;
  pass.status.metrics = pass.decision.metrics;
  pass.status.currentReplicas = pass.ready;
  pass.status.desiredReplicas = pass.decision.desiredReplicas;
  std::vector<OperatorMetrics::PolicyMetric> observed;
  for (std::size_t i = 0; i < s.metrics.size() && i < pass.input.readings.size(); ++i) {
    observed.push_back({s.metrics[i].name, pass.input.readings[i].value, s.metrics[i].targetPerReplica});
  }
  metrics_.policyObserved(pass.namespaceName, pass.name, pass.decision.desiredReplicas, pass.ready, observed);
}

void Reconciler::reportStuckRollout(Pass& pass) {
  if (!pass.target.rolloutStuck) {
    pass.state->stuckReported = false;
  } else if (!pass.state->stuckReported) {
    pass.state->stuckReported =
        recordEvent(pass.policyObject, event::kRolloutStuck, stuckRolloutMessage(pass.target), true).ok();
  }
}

std::optional<ReconcileOutcome> Reconciler::applyScale(Pass& pass) {
  const ScaleDecision& decision = pass.decision;
  const DeploymentView& target = pass.target;
  if (decision.scale) {
    auto deadline = writeDeadline_();
    if (!deadline) {
      return retryAfter(kErrorRetry);
    }
    json scale = {{"apiVersion", "autoscaling/v1"},
                  {"kind", "Scale"},
                  {"metadata",
                   {{"name", target.name},
                    {"namespace", pass.namespaceName},
                    {"resourceVersion", target.resourceVersion}}},
                  {"spec", {{"replicas", decision.desiredReplicas}}}};
    auto scaled = kube_.update(pass.deploymentPath + "/scale", scale, deadline);
    if (!scaled.ok()) {
      // A 409 means the Deployment changed since we read it: decide again on fresh data.
      metrics_.error(scaled.status().code() == Code::kConflict ? Failure::kConflict : Failure::kKubernetes);
      logStepError(pass, "applyScale", "scaling", scaled.status());
      metrics_.reconciled(false);
      return retryAfter(scaled.status().code() == Code::kConflict ? kConflictRetry : kErrorRetry);
    }
    pass.state->scaling.recordApplied(decision, target.specReplicas, pass.steadyNow);
    pass.status.lastScaleTime = pass.now;
    pass.state->lastHoldEvent.clear();
    log::info("scaled", {{"policy", pass.key},
                         {"deployment", target.name},
                         {"from", target.specReplicas},
                         {"to", decision.desiredReplicas},
                         {"message", decision.message}});
    recordEvent(pass.policyObject, event::kScaled, decision.message, false);
  } else if (decision.reason == reason::kSteady) {
    pass.state->lastHoldEvent.clear();
  } else if (const std::string hold = std::string(event::kScaleHeld) + ":" + decision.reason +
                                      (decision.reason == reason::kOtherOwner ? ":" + pass.ownersText : "");
             pass.state->lastHoldEvent != hold) {
    // One Event when a hold begins (or its cause, or the set of other owners, changes), not one per resync.
    if (recordEvent(pass.policyObject, event::kScaleHeld, decision.reason + ": " + decision.message,
                    decision.reason == reason::kMetricsUnavailable || decision.reason == reason::kOtherOwner)
            .ok()) {
      pass.state->lastHoldEvent = hold;
    }
  }

  return std::nullopt;
}

std::optional<ReconcileOutcome> Reconciler::reconcileHealth(Pass& pass) {
  // Restarts one pod that stayed unhealthy too long.
  const ServicePolicySpec& s = pass.spec;
  if (!s.health) {
    setCondition(pass.status.conditions,
                 makeCondition(condition::kHealthy, true, reason::kNotConfigured,
                               "no health query in the spec", pass.generation),
                 pass.now);
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
      metrics_.error(Failure::kPrometheus);
    }
    HealthDecision health =
        pass.state->health.evaluate(*s.health, s.minReplicas, pass.pods, unhealthy, pass.steadyNow);
    Condition healthy = makeCondition(condition::kHealthy, health.known && health.unhealthyPods.empty(),
                                      health.reason, health.message, pass.generation);
    if (!health.known) {
      healthy.status = "Unknown";
      healthy.message += ": " + samples.status().message();
    }
    if (health.restartPod && pass.policy.metadata.paused) {
      healthy.message += "; restart of " + *health.restartPod + " held: the policy is paused";
      health.restartPod.reset();
    }
    if (health.restartPod && pass.target.rollingOut) {
      // A rollout replaces pods anyway; restarting on top of it only adds churn (until it is stuck).
      healthy.message += "; restart of " + *health.restartPod + " held while rolling out";
      health.restartPod.reset();
    }
    if (health.restartPod) {
      if (!writeDeadline_()) {
        return retryAfter(kErrorRetry);
      }
      evictPod(pass.policyObject, *s.health, *health.restartPod, pass.ready, *pass.state, healthy.message);
    }
    setCondition(pass.status.conditions, healthy, pass.now);
  }

  return std::nullopt;
}

}  // namespace mp::op
