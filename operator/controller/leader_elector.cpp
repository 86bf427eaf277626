#include "controller/leader_elector.h"

#include "base/log.h"
#include "runtime/time_format.h"

namespace mp::op {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

std::string microNow() {
  return formatRfc3339(WallClock::now(), true);
}

}  // namespace

LeaderElector::LeaderElector(KubeClient& kube, LeaseConfig config, std::function<void()> onStartedLeading,
                             std::function<void()> onStoppedLeading)
    : kube_(kube),
      config_(std::move(config)),
      onStarted_(std::move(onStartedLeading)),
      onStopped_(std::move(onStoppedLeading)) {}

std::optional<SteadyClock::time_point> LeaderElector::writeDeadline() const {
  if (!leading_.load()) {
    return std::nullopt;
  }
  const SteadyClock::time_point renewed{SteadyClock::duration(lastRenewTicks_.load())};
  if (SteadyClock::now() - renewed >= config_.renewDeadline) {
    return std::nullopt;
  }
  return renewed + config_.leaseDuration;
}

LeaderElector::Attempt LeaderElector::tryAcquireOrRenew(SteadyClock::time_point& requestStart) {
  const std::string collection = resourcePath("coordination.k8s.io", "v1", config_.namespaceName, "leases");
  const std::string path = collection + "/" + config_.name;
  const auto leaseSeconds = std::chrono::duration_cast<std::chrono::seconds>(config_.leaseDuration).count();
  auto current = kube_.get(path);
  if (!current.ok()) {
    if (current.status().code() != Code::kNotFound) {
      log::warn("reading the Lease failed", {{"error", current.status().message()}});
      return Attempt::kFailed;
    }
    const std::string now = microNow();
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", config_.name}, {"namespace", config_.namespaceName}}},
                  {"spec",
                   {{"holderIdentity", config_.identity},
                    {"leaseDurationSeconds", std::max<int64_t>(1, leaseSeconds)},
                    {"acquireTime", now},
                    {"renewTime", now},
                    {"leaseTransitions", 0}}}};
    requestStart = SteadyClock::now();
    auto created = kube_.create(collection, lease);
    if (!created.ok()) {
      return Attempt::kFailed;  // 409 AlreadyExists: someone else was faster
    }
    observedSpec_ = created.value()["spec"];
    observedAt_ = SteadyClock::now();
    return Attempt::kHeld;
  }
  json lease = current.value();
  json spec = lease.value("spec", json::object());
  if (spec != observedSpec_) {
    observedSpec_ = spec;
    observedAt_ = SteadyClock::now();
  }
  const std::string holder = spec.value("holderIdentity", "");
  const auto duration = std::chrono::seconds(spec.value("leaseDurationSeconds", int64_t{1}));
  if (!holder.empty() && holder != config_.identity && SteadyClock::now() < observedAt_ + duration) {
    return Attempt::kHeldByOther;
  }
  const std::string now = microNow();
  if (holder != config_.identity) {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = spec.value("leaseTransitions", int64_t{0}) + (holder.empty() ? 0 : 1);
  }
  spec["holderIdentity"] = config_.identity;
  spec["leaseDurationSeconds"] = std::max<int64_t>(1, leaseSeconds);
  spec["renewTime"] = now;
  lease["spec"] = spec;
  requestStart = SteadyClock::now();
  auto updated = kube_.update(path, lease);
  if (!updated.ok()) {
    // 409: the Lease changed under us (another candidate won the race); try again next period.
    return Attempt::kFailed;
  }
  observedSpec_ = updated.value()["spec"];
  observedAt_ = SteadyClock::now();
  return Attempt::kHeld;
}

void LeaderElector::release() {
  const std::string path =
      resourcePath("coordination.k8s.io", "v1", config_.namespaceName, "leases", config_.name);
  auto current = kube_.get(path);
  if (!current.ok() || current.value()["spec"].value("holderIdentity", "") != config_.identity) {
    return;
  }
  json lease = current.value();
  const std::string now = microNow();
  // As client-go does on release: an empty holder that anyone may take at once.
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = now;
  auto updated = kube_.update(path, lease);
  if (updated.ok()) {
    log::info("released the Lease", {{"lease", config_.namespaceName + "/" + config_.name}});
  } else {
    log::warn("releasing the Lease failed", {{"error", updated.status().message()}});
  }
}

bool LeaderElector::waitRetry(const std::atomic<bool>& stop) {
  std::unique_lock<std::mutex> lock(wakeMutex_);
  wake_.wait_for(lock, config_.retryPeriod, [&stop] { return stop.load(); });
  return !stop.load();
}

void LeaderElector::stopNow() {
  std::lock_guard<std::mutex> lock(wakeMutex_);
  wake_.notify_all();
}

void LeaderElector::run(const std::atomic<bool>& stop) {
  const json where = {{"lease", config_.namespaceName + "/" + config_.name}, {"identity", config_.identity}};
  log::info("campaigning for leadership", where);
  while (!stop.load()) {
    SteadyClock::time_point requestStart;
    Attempt attempt = tryAcquireOrRenew(requestStart);
    if (attempt == Attempt::kHeld) {
      // From when the renewal was sent, not when its answer came: the Lease may have been written (and
      // seen by others) at any moment in between.
      lastRenewTicks_ = requestStart.time_since_epoch().count();
      if (!leading_.exchange(true)) {
        log::info("became leader", where);
        onStarted_();
      }
    } else if (leading_.load()) {
      bool deadlinePassed = !isLeader();
      if (attempt == Attempt::kHeldByOther || deadlinePassed) {
        leading_ = false;
        log::warn("lost leadership",
                  {{"lease", where["lease"]},
                   {"identity", config_.identity},
                   {"cause", attempt == Attempt::kHeldByOther ? "another holder" : "renew deadline"}});
        onStopped_();
      }
    }
    waitRetry(stop);
  }
  if (leading_.exchange(false)) {
    onStopped_();
    release();
  }
}

}  // namespace mp::op
