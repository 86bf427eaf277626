#include "billing/billing_app.h"

int main(int argc, char** argv) {
  return mp::billing::runBillingApp(argc, argv);
}
