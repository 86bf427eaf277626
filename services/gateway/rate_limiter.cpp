#include "gateway/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace mp::gateway {

ClientRateLimiter::ClientRateLimiter(double ratePerSecond, double burst, size_t maxClients)
    : ratePerSecond_(ratePerSecond),
      burst_(std::max(1.0, burst)),
      maxClients_(std::max<size_t>(1, maxClients)),
      refillTime_(burst_ / ratePerSecond) {}

ClientRateLimiter::Decision ClientRateLimiter::admit(const std::string& client, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  forgetIdle(now);
  auto found = buckets_.find(client);
  if (found == buckets_.end()) {
    if (buckets_.size() >= maxClients_) {
      buckets_.erase(recency_.back());
      recency_.pop_back();
    }
    recency_.push_front(client);
    found = buckets_.emplace(client, Bucket{burst_, now, recency_.begin()}).first;
  } else {
    recency_.splice(recency_.begin(), recency_, found->second.recency);
  }
  Bucket& bucket = found->second;
  // A clock that went backwards (it should not: steady) refills nothing rather than a negative amount.
  double elapsed = std::max(0.0, std::chrono::duration<double>(now - bucket.last).count());
  bucket.tokens = std::min(burst_, bucket.tokens + elapsed * ratePerSecond_);
  bucket.last = now;
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return {};
  }
  double wait = (1.0 - bucket.tokens) / ratePerSecond_;
  return {false, std::max(1, static_cast<int>(std::ceil(wait)))};
}

size_t ClientRateLimiter::trackedClients() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return buckets_.size();
}

void ClientRateLimiter::forgetIdle(Clock::time_point now) {
  // The least recently seen are at the back; stop at the first one that may still be short of tokens.
  while (!recency_.empty()) {
    auto found = buckets_.find(recency_.back());
    if (now - found->second.last < refillTime_) {
      break;
    }
    buckets_.erase(found);
    recency_.pop_back();
  }
}

}  // namespace mp::gateway
