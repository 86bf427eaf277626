#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "client/kube_client.h"

namespace mp::op {

struct LeaseConfig {
  std::string namespaceName;
  std::string name;
  std::string identity;
  std::chrono::milliseconds leaseDuration{15000};
  std::chrono::milliseconds renewDeadline{10000};
  std::chrono::milliseconds retryPeriod{2000};
};

// Leader election over a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the Lease is
// free or its holder has not renewed for leaseDuration (measured on our own clock), renew every
// retryPeriod, give up after renewDeadline without a successful renewal or as soon as another holder
// shows up, and release the Lease on shutdown.
// Thread-safety: run() on one thread; isLeader() from any thread.
class LeaderElector {
 public:
  LeaderElector(KubeClient& kube, LeaseConfig config, std::function<void()> onStartedLeading,
                std::function<void()> onStoppedLeading);

  // Campaigns until `stop` is set (and stopNow() is called to wake it); releases the Lease if held.
  void run(const std::atomic<bool>& stop);
  void stopNow();

  // True only while leading and the last renewal is younger than renewDeadline: checked before writes.
  bool isLeader() const { return writeDeadline().has_value(); }

  // While isLeader(): the instant by which every write must be over, the end of the Lease as others can
  // see it: the start of the last successful renewal request plus leaseDuration (another candidate counts
  // leaseDuration from when it sees that renewal, which is after the request started). nullopt otherwise.
  std::optional<std::chrono::steady_clock::time_point> writeDeadline() const;

 private:
  enum class Attempt { kHeld, kHeldByOther, kFailed };

  // On kHeld, `requestStart` is when the write that took or renewed the Lease was sent.
  Attempt tryAcquireOrRenew(std::chrono::steady_clock::time_point& requestStart);
  void release();
  bool waitRetry(const std::atomic<bool>& stop);

  KubeClient& kube_;
  const LeaseConfig config_;
  std::function<void()> onStarted_;
  std::function<void()> onStopped_;
  std::atomic<bool> leading_{false};
  std::atomic<int64_t> lastRenewTicks_{0};  // steady_clock ticks when the last successful renewal was sent
  // The Lease as last seen and when it last changed, so expiry is judged without trusting other clocks.
  nlohmann::json observedSpec_;
  std::chrono::steady_clock::time_point observedAt_{};
  std::mutex wakeMutex_;  // for wake_ only: guards no member
  std::condition_variable wake_;
};

}  // namespace mp::op
