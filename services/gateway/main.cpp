#include <curl/curl.h>

#include "base/signals.h"
#include "gateway/gateway_app.h"

int main(int argc, char** argv) {
  mp::blockTerminationSignals();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  mp::Environment env;
  auto settings = mp::gateway::readSettings(env);
  mp::finishConfiguration(
      env, argc, argv,
      "api-gateway: forwards /api/movies to inventory-app and publishes /api/billing orders "
      "to RabbitMQ (docs/openapi.yaml).");
  int code = mp::gateway::run(settings);
  curl_global_cleanup();
  return code;
}
