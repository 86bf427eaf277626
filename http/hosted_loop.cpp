#include "http/hosted_loop.h"

namespace mp {
namespace {

thread_local LoopHost* currentHost = nullptr;

}  // namespace

LoopHost* LoopHost::current() {
  return currentHost;
}

void LoopHost::setCurrent(LoopHost* host) {
  currentHost = host;
}

}  // namespace mp
