#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include <vector>

#include "base/status.h"

namespace mp::op {

// A pod of the target as the health rules need it.
struct PodView {
  std::string name;
  bool ready = false;
  bool terminating = false;
};

// An object that sets some workload's replica count, as the operator sees it: an autoscaling/v2
// HorizontalPodAutoscaler (spec.scaleTargetRef) or a ServicePolicy (spec.targetRef).
struct ReplicaClaim {
  std::string kind;  // "HorizontalPodAutoscaler" or "ServicePolicy"
  std::string name;
  std::string targetKind;
  std::string targetName;
  std::string creationTimestamp;  // RFC 3339 as the API server writes it (UTC, "Z"), so it sorts as text
};

// What the reconciler reads from an apps/v1 Deployment.
struct DeploymentView {
  std::string name;
  std::string resourceVersion;
  int32_t specReplicas = 0;
  std::string labelSelector;   // matchLabels as "k=v,k2=v2"
  bool rollingOut = false;     // a rollout is in progress and within its progress deadline
  bool rolloutStuck = false;   // Progressing=False ProgressDeadlineExceeded: scaling and healing resume
  std::string rolloutMessage;  // why rollingOut or rolloutStuck, for status and Events
};

// Reads a Deployment; fails when it has no usable matchLabels selector (matchExpressions are not
// supported: the operator must list exactly the Deployment's pods).
StatusOr<DeploymentView> readDeployment(const nlohmann::json& deployment);

// Reads a Pod: ready means the Ready condition is True; terminating means deletionTimestamp is set.
// Pods that already finished (Succeeded/Failed) come back as neither ready nor counted live.
PodView readPod(const nlohmann::json& pod);

// Reads the items of a list of `kind` objects (HorizontalPodAutoscaler: spec.scaleTargetRef;
// ServicePolicy: spec.targetRef) as replica claims; an unreadable item claims no target.
std::vector<ReplicaClaim> readReplicaClaims(const nlohmann::json& list, const std::string& kind);

// Builds a core/v1 Event about `involved` (an object's apiVersion/kind/metadata).
nlohmann::json makeEvent(const nlohmann::json& involved, const std::string& reason,
                         const std::string& message, bool warning, const std::string& component,
                         const std::string& instance, const std::string& now);

}  // namespace mp::op
