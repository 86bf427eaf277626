#include "base/signals.h"
#include "inventory/inventory_app.h"

int main(int argc, char** argv) {
  mp::blockTerminationSignals();
  mp::Environment env;
  auto settings = mp::inventory::readSettings(env);
  mp::finishConfiguration(env, argc, argv,
                          "inventory-app: the movies API (docs/openapi.yaml) over PostgreSQL.");
  return mp::inventory::run(settings);
}
