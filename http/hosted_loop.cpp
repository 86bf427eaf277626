#include "http/hosted_loop.h"

#include <algorithm>
#include <climits>
#include <cstdint>

namespace mp {
namespace {

thread_local LoopHost* currentHost = nullptr;

}  // namespace

Wait Wait::atMost(std::chrono::milliseconds limit) {
  return Wait(kFor, static_cast<int>(std::clamp<int64_t>(limit.count(), 0, INT_MAX)));
}

LoopHost* LoopHost::current() {
  return currentHost;
}

void LoopHost::setCurrent(LoopHost* host) {
  currentHost = host;
}

}  // namespace mp
