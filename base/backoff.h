#pragma once

#include <algorithm>
#include <chrono>

namespace mp {

// Capped exponential delays for retry loops (see retryUntilStopped in base/retry.h): first, 2x first, 4x
// first... never above the cap. Not thread-safe: one per retry loop.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds cap)
      : first_(first), cap_(cap), next_(first) {}

  // The delay to wait before the next attempt; each call doubles the following one up to the cap.
  std::chrono::milliseconds nextDelay() {
    std::chrono::milliseconds delay = next_;
    next_ = std::min(cap_, next_ * 2);
    return delay;
  }

  // The delay nextDelay() will return, without advancing (for a log line that announces it).
  std::chrono::milliseconds upcomingDelay() const { return next_; }

  // After a success the next failure starts again from the first delay.
  void reset() { next_ = first_; }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds cap_;
  std::chrono::milliseconds next_;
};

}  // namespace mp
