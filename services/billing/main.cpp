#include "billing/billing_app.h"
#include "billing/queue_commands.h"

int main(int argc, char** argv) {
  if (mp::billing::isQueueCommand(argc, argv)) {
    return mp::billing::runQueueCommand(argc, argv);
  }
  return mp::billing::runBillingApp(argc, argv);
}
