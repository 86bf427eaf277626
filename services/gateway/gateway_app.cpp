#include "gateway/gateway_app.h"

#include "common/log.h"

namespace mp::gateway {

GatewaySettings readSettings(Environment& env) {
  GatewaySettings settings;
  settings.service = readServiceSettings(env, "api-gateway", "API_GATEWAY_PORT", 3000);
  settings.inventory.baseUrl = env.requiredUrl("INVENTORY_APP_URL", {"http"},
                                               "base URL of inventory-app, e.g. http://inventory-app:8080");
  settings.inventory.timeout = env.duration("UPSTREAM_TIMEOUT", std::chrono::seconds(10),
                                            "longest wait for inventory-app's answer (then 504)");
  settings.inventory.connectTimeout = env.duration("UPSTREAM_CONNECT_TIMEOUT", std::chrono::seconds(1),
                                                   "longest wait to connect to inventory-app (then 502)");
  settings.service.server.workerThreads = static_cast<size_t>(env.integer(
      "GATEWAY_WORKERS", 32, 1, 1024, "requests forwarded at once (each keeps its upstream connection)"));
  return settings;
}

int run(const GatewaySettings& settings) {
  log::setup(settings.service.service, settings.service.logLevel);
  ServiceMetrics metrics(settings.service.service);
  http::HttpServer server(settings.service.server, metrics);
  InventoryProxy inventory(settings.inventory);

  auto forward = [&inventory](const http::Request& request) { return inventory.forward(request); };
  for (const char* method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    server.route(method, "/api/movies", forward);
    server.route(method, "/api/movies/:id", forward);
    server.route(method, "/api/movies/*", forward);
  }
  server.route(
      "GET", "/api/docs",
      [](const http::Request&) {
        http::Response response;
        response.contentType = "application/yaml";
        response.body = kOpenApiDocument;
        return response;
      },
      http::Dispatch::kInline);
  server.setReadiness([&inventory](std::string* reason) { return inventory.reachable(reason); });
  return serveUntilSignal(server, settings.service);
}

}  // namespace mp::gateway
