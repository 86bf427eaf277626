#include "gateway/gateway_app.h"

#include "common/json_body.h"
#include "common/log.h"
#include "common/order_message.h"

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
  auto rabbitmqUrl =
      env.requiredUrl("RABBITMQ_URL", {"amqp"}, "AMQP URI of RabbitMQ, e.g. amqp://user:pass@host:5672/%2f");
  if (!rabbitmqUrl.empty()) {
    auto parsed = amqp::parseUrl(rabbitmqUrl, &settings.billing.connection);
    if (!parsed.isOk()) {
      env.reportError("RABBITMQ_URL: " + parsed.message());
    }
  }
  settings.billing.queue = env.text("BILLING_QUEUE", "billing_queue", "queue that orders are published to");
  settings.billing.confirmTimeout = env.duration("BILLING_CONFIRM_TIMEOUT", std::chrono::seconds(5),
                                                 "longest wait for RabbitMQ to confirm an order (then 503)");
  return settings;
}

namespace {

http::Response postOrder(BillingPublisher& publisher, const http::Request& request) {
  nlohmann::json ignored;
  // Same request rules as every JSON endpoint (content type, UTF-8, depth), then the order's own.
  if (auto error = http::parseJsonObject(request, &ignored)) {
    return *error;
  }
  OrderMessage order;
  std::string reason;
  if (!parseOrderMessage(request.body, &order, &reason)) {
    return http::Response::error(400, "invalid_order", reason);
  }
  std::string messageId;
  if (!orderMessageId(request.header("idempotency-key"), &messageId)) {
    return http::Response::error(
        400, "invalid_idempotency_key",
        "Idempotency-Key must be 1 to 200 printable ASCII characters without spaces");
  }
  std::string detail;
  if (publisher.publish(request.body, std::move(messageId), &detail) !=
      BillingPublisher::Outcome::kConfirmed) {
    return http::Response::error(503, "broker_unavailable", detail + "; retry shortly");
  }
  return http::Response::json(200, {{"message", "Message posted"}});
}

}  // namespace

int run(const GatewaySettings& settings) {
  log::setup(settings.service.service, settings.service.logLevel);
  ServiceMetrics metrics(settings.service.service);
  http::HttpServer server(settings.service.server, metrics);
  InventoryProxy inventory(settings.inventory);
  BillingPublisher billing(settings.billing, metrics);
  billing.start();

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
  server.route("POST", "/api/billing", [&billing](const http::Request& r) { return postOrder(billing, r); });
  server.setReadiness([&inventory, &billing](std::string* reason) {
    if (!billing.connected()) {
      *reason = "RabbitMQ is not reachable";
      return false;
    }
    return inventory.reachable(reason);
  });
  int code = serveUntilSignal(server, settings.service);
  billing.stop();
  return code;
}

}  // namespace mp::gateway
