#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "http_test_server.h"

namespace mp::op::test {

// One kind of request a client made: (verb, API group, resource or resource/subresource).
struct ApiUsage {
  std::string verb;
  std::string group;
  std::string resource;
  bool operator<(const ApiUsage& other) const {
    return std::tie(verb, group, resource) < std::tie(other.verb, other.group, other.resource);
  }
};

// An in-process stand-in for the Kubernetes API server on 127.0.0.1, faithful to the conventions in
// OFFLINE-K8S.md: discovery, resourceVersion on every write with 409 Conflict on a stale PUT, 409
// AlreadyExists, 404 NotFound Status objects, generation bumped by spec changes only, /status and
// /scale subresources, chunked watch streams with 410 Expired, labelSelector on lists, the policy/v1
// Eviction subresource checked against PodDisruptionBudgets (201, 429 TooManyRequests), autoscaling/v2
// HorizontalPodAutoscalers as stored objects. It also plays the Deployment/ReplicaSet controllers: pods
// follow spec.replicas, a deleted or evicted pod is replaced.
// Thread-safety: all methods may be called from any thread (one mutex guards the store).
class FakeKubeApi {
 public:
  FakeKubeApi();
  ~FakeKubeApi();

  std::string url() const { return server_.url(); }
  int port() const { return server_.port(); }
  void stop() { server_.stop(); }

  // Writes a kubeconfig pointing at this server and returns its path.
  std::string writeKubeconfig(const std::string& directory, const std::string& context = "fake") const;

  // Store access for tests, bypassing HTTP (and the usage record). Paths as in the API.
  nlohmann::json createObject(const std::string& collectionPath, nlohmann::json object);
  std::optional<nlohmann::json> getObject(const std::string& objectPath) const;
  nlohmann::json listObjects(const std::string& collectionPath) const;
  void updateObject(const std::string& objectPath, const std::function<void(nlohmann::json&)>& change);

  // Marks a pod ready or not (its Deployment's status follows).
  void setPodReady(const std::string& namespaceName, const std::string& pod, bool ready);

  // While held, the Deployment reports a rollout in progress (one replica not yet updated).
  void holdRollout(const std::string& namespaceName, const std::string& deployment, bool held);
  // While set, that rollout is past its progress deadline: Progressing=False ProgressDeadlineExceeded,
  // as the Deployment controller reports after spec.progressDeadlineSeconds.
  void exceedProgressDeadline(const std::string& namespaceName, const std::string& deployment, bool exceeded);

  // Deletes an object as a DELETE request would (for tests; not recorded as usage).
  void deleteObject(const std::string& objectPath);

  // From now on the answer to every `method` request whose path ends with `pathSuffix` is held for
  // `delay` after the request took effect (or until the client gives up), like a slow API server.
  void delayAnswers(const std::string& method, const std::string& pathSuffix,
                    std::chrono::milliseconds delay);

  // When each request arrived and ended, for the requests delayAnswers() held.
  struct Timing {
    std::string method;
    std::string path;
    std::string agent;
    std::chrono::steady_clock::time_point arrived;
    std::chrono::steady_clock::time_point ended;  // answered, or the client went away
    bool clientGaveUp = false;
  };
  std::vector<Timing> timings() const;

  // Forgets the watch history so a watch resuming from an older resourceVersion gets 410 Expired, and
  // ends every open watch with that error (as an API server does after etcd compaction).
  void expireWatches();

  // Everything clients whose User-Agent starts with `agentPrefix` did.
  std::set<ApiUsage> usage(const std::string& agentPrefix) const;
  // Pods removed through the Eviction API (POST pods/<name>/eviction answered 201).
  int evictions() const;
  // Number of write requests (POST/PUT/PATCH/DELETE) by agents starting with `agentPrefix`.
  int writeCount(const std::string& agentPrefix) const;

 private:
  struct Route {
    std::string group;
    std::string version;
    std::string namespaceName;
    std::string plural;
    std::string name;
    std::string subresource;
    bool valid = false;
  };
  struct WatchEvent {
    int64_t resourceVersion;
    std::string collection;  // "group/plural"
    std::string namespaceName;
    std::string type;
    nlohmann::json object;
  };

  void handle(HttpExchange& exchange);
  bool discovery(HttpExchange& exchange);
  void watch(HttpExchange& exchange, const Route& route);
  Route parse(const std::string& path) const;
  nlohmann::json apply(const std::string& method, const Route& route, const TestRequest& request,
                       int& status);

  // Store primitives; the caller holds mutex_.
  std::string keyOf(const Route& route, const std::string& name) const;
  nlohmann::json stampAndStore(const Route& route, nlohmann::json object, const std::string& type);
  void removeLocked(const Route& route, const std::string& name);
  // POST pods/<name>/eviction (policy/v1): 201 and the pod deleted, or 429 when a PodDisruptionBudget
  // (minAvailable or maxUnavailable, matchLabels) would be violated.
  nlohmann::json evictLocked(const Route& route, const TestRequest& request, int& status);
  // Adds or removes "ns/name" in `marks` (rollingOut_, pastDeadline_) and brings its status up to date.
  void markDeployment(std::set<std::string>& marks, const std::string& namespaceName,
                      const std::string& deployment, bool on);
  void syncDeploymentLocked(const std::string& namespaceName, const std::string& name);
  void syncAllDeploymentsLocked();
  nlohmann::json scaleOf(const nlohmann::json& deployment) const;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, nlohmann::json> objects_;  // "group/plural/ns/name"
  std::vector<WatchEvent> history_;
  int64_t resourceVersion_ = 1000;
  int64_t oldestWatchable_ = 0;  // watches from below this get 410
  int64_t expiryEpoch_ = 0;      // bumped by expireWatches() to end open streams
  int64_t uidCounter_ = 0;
  int64_t podCounter_ = 0;
  int evictions_ = 0;
  std::set<std::string> rollingOut_;    // "ns/name" of Deployments mid-rollout
  std::set<std::string> pastDeadline_;  // "ns/name" of rollouts past their progress deadline
  std::vector<std::tuple<std::string, std::string, std::chrono::milliseconds>> delays_;  // method, suffix
  std::vector<Timing> timings_;
  std::map<std::string, std::set<ApiUsage>> usage_;  // by User-Agent
  std::map<std::string, int> writes_;                // by User-Agent
  HttpTestServer server_;                            // last: it must stop before the state above is destroyed
};

// A minimal apps/v1 Deployment whose pods carry the label app=<name>.
nlohmann::json deploymentObject(const std::string& name, int replicas);

// A Status object as the API server returns with errors.
nlohmann::json statusObject(int code, const std::string& reason, const std::string& message);

}  // namespace mp::op::test
