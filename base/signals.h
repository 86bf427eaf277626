#pragma once

namespace mp {

// Blocks SIGTERM and SIGINT in the calling thread (call first in main, before any thread starts, so
// every thread inherits the mask) and returns when one of them arrives. Returns the signal number.
void blockTerminationSignals();
int waitForTerminationSignal();

}  // namespace mp
