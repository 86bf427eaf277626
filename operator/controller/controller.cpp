#include "controller/controller.h"

#include "api/service_policy_types.h"
#include "base/log.h"

namespace mp::op {
namespace {

using nlohmann::json;

constexpr std::chrono::milliseconds kRetryDelay{1000};

std::string keyOf(const json& object) {
  const json& meta = object.value("metadata", json::object());
  return meta.value("namespace", "") + "/" + meta.value("name", "");
}

}  // namespace

Controller::PolicyEntry Controller::entryOf(const json& object) {
  PolicyEntry entry;
  auto policy = policyFromJson(object);
  if (policy.ok()) {
    entry.generation = policy.value().metadata.generation;
    entry.paused = policy.value().metadata.paused;
  }
  const json spec = object.value("spec", json::object());
  const json ref = spec.is_object() ? spec.value("targetRef", json::object()) : json::object();
  entry.target =
      ref.is_object() && ref.value("name", json()).is_string() ? ref["name"].get<std::string>() : "";
  return entry;
}

Controller::Controller(KubeClient& kube, Reconciler& reconciler, ControllerConfig config)
    : kube_(kube), reconciler_(reconciler), config_(std::move(config)) {}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  if (running_) {
    return;
  }
  running_ = true;
  stopping_ = false;
  queue_.reset();
  {
    std::lock_guard<std::mutex> lock(indexMutex_);
    policies_.clear();
  }
  const std::string policies =
      resourcePath(kPolicyGroup, kPolicyVersion, config_.namespaceName, kPolicyPlural);
  const std::string deployments = resourcePath("apps", "v1", config_.namespaceName, "deployments");
  policyInformer_ = std::thread([this, policies] {
    informerLoop(
        policies, [this](const std::string& type, const json& object) { onPolicyEvent(type, object); },
        [this](const json& items) { onPolicyList(items); }, policiesSynced_);
  });
  deploymentInformer_ = std::thread([this, deployments] {
    informEach(
        deployments,
        [this](const json& object) {
          const json& meta = object.value("metadata", json::object());
          enqueueTargeting(meta.value("namespace", ""), meta.value("name", ""));
        },
        deploymentsSynced_);
  });
  // An autoscaler that appears or goes changes who owns a Deployment's count: reconcile its policies.
  const std::string autoscalers =
      resourcePath("autoscaling", "v2", config_.namespaceName, "horizontalpodautoscalers");
  autoscalerInformer_ = std::thread([this, autoscalers] {
    informEach(
        autoscalers,
        [this](const json& object) {
          const json spec = object.value("spec", json::object());
          const json ref = spec.is_object() ? spec.value("scaleTargetRef", json::object()) : json::object();
          if (ref.is_object() && ref.value("kind", json()) == "Deployment" &&
              ref.value("name", json()).is_string()) {
            enqueueTargeting(object.value("metadata", json::object()).value("namespace", ""),
                             ref["name"].get<std::string>());
          }
        },
        autoscalersSynced_);
  });
  worker_ = std::thread([this] { runWorker(); });
  log::info("controller started",
            {{"namespace", config_.namespaceName.empty() ? "*" : config_.namespaceName}});
}

void Controller::stop() {
  if (!running_) {
    return;
  }
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(pauseMutex_);
    pauseWake_.notify_all();
  }
  queue_.shutDown();
  for (std::thread* t : {&policyInformer_, &deploymentInformer_, &autoscalerInformer_, &worker_}) {
    if (t->joinable()) {
      t->join();
    }
  }
  policiesSynced_ = false;
  deploymentsSynced_ = false;
  autoscalersSynced_ = false;
  reconciler_.forgetAll();
  running_ = false;
  log::info("controller stopped");
}

bool Controller::pause(std::chrono::milliseconds delay) {
  std::unique_lock<std::mutex> lock(pauseMutex_);
  pauseWake_.wait_for(lock, delay, [this] { return stopping_.load(); });
  return !stopping_.load();
}

void Controller::informerLoop(const std::string& collectionPath, const EventHandler& onEvent,
                              const ListHandler& onList, std::atomic<bool>& synced) {
  while (!stopping_) {
    auto list = kube_.get(collectionPath);
    if (!list.ok()) {
      log::warn("list failed", {{"path", collectionPath}, {"error", list.status().message()}});
      pause(kRetryDelay);
      continue;
    }
    std::string resourceVersion = list.value().value("metadata", json::object()).value("resourceVersion", "");
    onList(list.value().value("items", json::array()));
    synced = true;
    bool relist = false;
    while (!stopping_ && !relist) {
      auto watched = kube_.watch(
          collectionPath, resourceVersion, static_cast<int>(config_.watchTimeout.count()),
          [&](const json& event) {
            const std::string type = event.value("type", "");
            const json& object = event.value("object", json::object());
            if (type == "ERROR") {
              // 410 Gone: our resourceVersion is too old to resume from; anything else is unexpected.
              log::info("watch ended by the server, re-listing", {{"path", collectionPath},
                                                                  {"code", object.value("code", 0)},
                                                                  {"reason", object.value("reason", "")}});
              relist = true;
              return false;
            }
            resourceVersion =
                object.value("metadata", json::object()).value("resourceVersion", resourceVersion);
            if (type != "BOOKMARK") {
              onEvent(type, object);
            }
            return true;
          },
          stopping_);
      if (!watched.ok()) {
        // 410 Gone: the resourceVersion is too old to resume from; list again.
        if (watched.httpStatus() == 410) {
          relist = true;
        } else {
          log::warn("watch failed", {{"path", collectionPath}, {"error", watched.message()}});
          pause(kRetryDelay);
        }
      }
    }
  }
}

void Controller::informEach(const std::string& collectionPath,
                            const std::function<void(const json&)>& onObject, std::atomic<bool>& synced) {
  informerLoop(
      collectionPath, [&onObject](const std::string&, const json& object) { onObject(object); },
      [&onObject](const json& items) {
        for (const json& item : items) {
          onObject(item);
        }
      },
      synced);
}

void Controller::onPolicyEvent(const std::string& type, const json& object) {
  const std::string key = keyOf(object);
  bool changed = true;
  {
    std::lock_guard<std::mutex> lock(indexMutex_);
    if (type == "DELETED") {
      policies_.erase(key);
    } else {
      PolicyEntry entry = entryOf(object);
      auto found = policies_.find(key);
      // Status-only writes (our own included) do not change the generation: nothing to do for them.
      // Pausing or resuming does not change it either, yet must take effect at once.
      changed = found == policies_.end() || found->second.generation != entry.generation ||
                found->second.target != entry.target || found->second.paused != entry.paused;
      policies_[key] = entry;
    }
  }
  if (changed) {
    queue_.add(key);
  }
}

void Controller::onPolicyList(const json& items) {
  std::map<std::string, PolicyEntry> fresh;
  for (const json& item : items) {
    fresh[keyOf(item)] = entryOf(item);
  }
  std::map<std::string, PolicyEntry> previous;
  {
    std::lock_guard<std::mutex> lock(indexMutex_);
    previous.swap(policies_);
    policies_ = fresh;
  }
  // Level-triggered: after a (re-)list every policy is reconciled, and vanished ones are forgotten.
  for (const auto& [key, entry] : fresh) {
    queue_.add(key);
  }
  for (const auto& [key, entry] : previous) {
    if (fresh.count(key) == 0) {
      queue_.add(key);
    }
  }
}

void Controller::enqueueTargeting(const std::string& namespaceName, const std::string& name) {
  const std::string prefix = namespaceName + "/";
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(indexMutex_);
    for (const auto& [key, entry] : policies_) {
      if (entry.target == name && key.compare(0, prefix.size(), prefix) == 0) {
        keys.push_back(key);
      }
    }
  }
  for (const std::string& key : keys) {
    queue_.add(key);
  }
}

void Controller::enqueueAll() {
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(indexMutex_);
    for (const auto& [key, entry] : policies_) {
      keys.push_back(key);
    }
  }
  for (const std::string& key : keys) {
    queue_.add(key);
  }
}

void Controller::runWorker() {
  auto nextResync = WorkQueue::Clock::now() + config_.syncPeriod;
  while (!stopping_) {
    if (WorkQueue::Clock::now() >= nextResync) {
      enqueueAll();
      nextResync = WorkQueue::Clock::now() + config_.syncPeriod;
    }
    auto key = queue_.next(nextResync);
    if (!key) {
      continue;
    }
    auto slash = key->find('/');
    ReconcileOutcome outcome = reconciler_.reconcile(key->substr(0, slash), key->substr(slash + 1));
    if (outcome.requeueAfter) {
      queue_.add(*key, *outcome.requeueAfter);
    }
  }
}

}  // namespace mp::op
