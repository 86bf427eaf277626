#pragma once

namespace mp::billing {

// billing-app's main(): reads the settings, serves HTTP, runs the order consumer until SIGTERM/SIGINT.
int runBillingApp(int argc, char** argv);

}  // namespace mp::billing
