#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mp::gateway {

// A token bucket per client: each client may send `burst` requests at once and `ratePerSecond` on
// average. Memory is bounded: a bucket idle long enough to be full again is the same as a new one and is
// dropped, and past `maxClients` the least recently seen client is forgotten. The clock is passed in, so
// the logic is tested without sleeping. Thread-safe (one mutex; every call is O(1) amortised).
class ClientRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Decision {
    bool allowed = true;
    int retryAfterSeconds = 0;  // when refused: whole seconds until a request will be allowed, >= 1
  };

  ClientRateLimiter(double ratePerSecond, double burst, size_t maxClients = 65536);

  Decision admit(const std::string& client, Clock::time_point now);
  size_t trackedClients() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
    std::list<std::string>::iterator recency;
  };

  void forgetIdle(Clock::time_point now);

  const double ratePerSecond_;
  const double burst_;
  const size_t maxClients_;
  const std::chrono::duration<double> refillTime_;  // from empty to full
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mutex_
  std::list<std::string> recency_;                   // most recently seen first; guarded by mutex_
};

}  // namespace mp::gateway
