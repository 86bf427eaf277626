#include "base/signals.h"
#include "billing/billing_app.h"
#include "billing/queue_commands.h"

int main(int argc, char** argv) {
  if (mp::billing::isQueueCommand(argc, argv)) {
    return mp::billing::runQueueCommand(argc, argv);
  }
  mp::blockTerminationSignals();
  mp::Environment env;
  auto settings = mp::billing::readSettings(env);
  mp::finishConfiguration(env, argc, argv,
                          "billing-app: stores the orders of the billing queue in PostgreSQL");
  return mp::billing::run(settings);
}
