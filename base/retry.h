#pragma once

#include <atomic>
#include <chrono>

#include "base/backoff.h"

namespace mp {

// Waits `delay` in steps of at most 50 ms, returning early once `stop` is set: every wait of a retry loop
// must end promptly on SIGTERM.
void sleepUnlessStopped(std::chrono::milliseconds delay, const std::atomic<bool>& stop);

// The one retry loop: calls `attempt(retryIn)` until it returns true or `stop` is set, waiting
// backoff.nextDelay() between failed attempts (a wait `stop` ends within 50 ms). `retryIn` is the wait that
// follows if this attempt fails, for the caller's log line. Returns true when an attempt succeeded (the
// backoff is then reset), false when stopped first; `attempt` is never called once `stop` is set.
template <typename Attempt>
bool retryUntilStopped(const std::atomic<bool>& stop, Backoff& backoff, Attempt&& attempt) {
  while (!stop.load()) {
    if (attempt(backoff.upcomingDelay())) {
      backoff.reset();
      return true;
    }
    sleepUnlessStopped(backoff.nextDelay(), stop);
  }
  return false;
}

}  // namespace mp
