#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace mp::op {

// Keys waiting to be reconciled, each at most once, with an optional delay (retries, conflicts).
// Thread-safety: every method may be called from any thread.
class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  // Queues `key` to be due after `delay`; an earlier due time already queued wins.
  void add(const std::string& key, std::chrono::milliseconds delay = std::chrono::milliseconds(0));

  // Waits until a key is due or `deadline` passes or shutDown() is called; nullopt in the latter cases.
  std::optional<std::string> next(Clock::time_point deadline);

  void shutDown();
  void reset();  // empties the queue and undoes shutDown(), for a controller that starts again

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Clock::time_point> due_;  // guarded by mutex_
  bool shutDown_ = false;                         // guarded by mutex_
};

}  // namespace mp::op
