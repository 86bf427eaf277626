#include "base/retry.h"

#include <algorithm>
#include <thread>

namespace mp {

void sleepUnlessStopped(std::chrono::milliseconds delay, const std::atomic<bool>& stop) {
  const auto deadline = std::chrono::steady_clock::now() + delay;
  while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), deadline - std::chrono::steady_clock::now()));
  }
}

}  // namespace mp
