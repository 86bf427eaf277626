#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "client/kube_client.h"
#include "controller/reconciler.h"
#include "controller/work_queue.h"

namespace mp::op {

struct ControllerConfig {
  std::string namespaceName;  // empty: all namespaces
  std::chrono::milliseconds syncPeriod{15000};
  std::chrono::seconds watchTimeout{300};
};

// Feeds the Reconciler: list+watch of ServicePolicies, Deployments and HorizontalPodAutoscalers
// (re-listing after 410 Gone), a work queue of policy keys, and a resync of every policy each sync period.
// Thread-safety: start() and stop() from one owning thread; internally three informer threads and one
// worker thread share the policy index under a mutex.
class Controller {
 public:
  Controller(KubeClient& kube, Reconciler& reconciler, ControllerConfig config);
  ~Controller();

  void start();  // no-op when running
  void stop();   // returns once every thread has ended; no-op when stopped
  bool synced() const {
    return policiesSynced_.load() && deploymentsSynced_.load() && autoscalersSynced_.load();
  }

 private:
  struct PolicyEntry {
    std::string target;
    int64_t generation = 0;
    bool paused = false;  // the pause annotation, which changes no generation
  };

  using EventHandler = std::function<void(const std::string& type, const nlohmann::json& object)>;
  using ListHandler = std::function<void(const nlohmann::json& items)>;

  void informerLoop(const std::string& collectionPath, const EventHandler& onEvent, const ListHandler& onList,
                    std::atomic<bool>& synced);
  // informerLoop for collections whose every object, listed or watched, just goes to `onObject`.
  void informEach(const std::string& collectionPath,
                  const std::function<void(const nlohmann::json&)>& onObject, std::atomic<bool>& synced);
  static PolicyEntry entryOf(const nlohmann::json& object);
  void onPolicyEvent(const std::string& type, const nlohmann::json& object);
  void onPolicyList(const nlohmann::json& items);
  // Enqueues the policies of that namespace that target Deployment `name`.
  void enqueueTargeting(const std::string& namespaceName, const std::string& name);
  void enqueueAll();
  void runWorker();
  bool pause(std::chrono::milliseconds delay);  // false when stopping

  KubeClient& kube_;
  Reconciler& reconciler_;
  const ControllerConfig config_;
  WorkQueue queue_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> policiesSynced_{false};
  std::atomic<bool> deploymentsSynced_{false};
  std::atomic<bool> autoscalersSynced_{false};
  std::mutex pauseMutex_;  // for pauseWake_ only: guards no member
  std::condition_variable pauseWake_;
  std::mutex indexMutex_;
  std::map<std::string, PolicyEntry> policies_;  // "ns/name" -> entry; guarded by indexMutex_
  std::thread policyInformer_;
  std::thread deploymentInformer_;
  std::thread autoscalerInformer_;
  std::thread worker_;
  bool running_ = false;
};

}  // namespace mp::op
