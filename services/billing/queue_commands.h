#pragma once

namespace mp::billing {

// `billing-app replay-dead-letters` and `billing-app migrate-topology`: one-off operator commands on the
// billing queue's topology (docs/billing.md), configured like the service (RABBITMQ_URL, BILLING_QUEUE).
// True when argv[1] names one of them.
bool isQueueCommand(int argc, char** argv);

// Runs the command argv[1] names; prints one JSON line with the outcome. Returns the exit code (0: done).
int runQueueCommand(int argc, char** argv);

}  // namespace mp::billing
