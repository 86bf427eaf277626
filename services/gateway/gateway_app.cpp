#include "gateway/gateway_app.h"

#include <algorithm>
#include <memory>

#include "base/log.h"
#include "common/broker_settings.h"
#include "common/json_body.h"
#include "gateway/bearer_token.h"
#include "gateway/message_id.h"
#include "gateway/rate_limiter.h"
#include "orders/order_message.h"

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
  settings.inventory.connectionMaxAge = env.duration(
      "UPSTREAM_CONNECTION_MAX_AGE", std::chrono::seconds(10),
      "a kept-alive connection to inventory-app is closed after this long (0: never), so that new pods "
      "behind a Service get their share");
  settings.inventory.connectionMaxRequests = static_cast<size_t>(env.integer(
      "UPSTREAM_CONNECTION_MAX_REQUESTS", 1000, 0, 100'000'000,
      "requests a kept-alive connection to inventory-app carries before it is closed (0: no limit)"));
  settings.service.server.workerThreads = static_cast<size_t>(
      env.integer("GATEWAY_WORKERS", 32, 1, 1024,
                  "requests forwarded to inventory-app at once, each on its keep-alive connection"));
  settings.inventory.maxConnections = settings.service.server.workerThreads;
  settings.billing.connection = readBrokerSettings(env);
  settings.billing.queue = readBillingQueue(env);
  settings.billing.confirmTimeout = env.duration("BILLING_CONFIRM_TIMEOUT", std::chrono::seconds(5),
                                                 "longest wait for RabbitMQ to confirm an order (then 503)");
  settings.access.token = env.text(
      "API_GATEWAY_TOKEN", "", "bearer token every POST/PUT/PATCH/DELETE must carry (empty: writes open)");
  settings.access.ratePerSecond = env.integer("API_GATEWAY_RATE_LIMIT_RPS", 0, 0, 1'000'000,
                                              "requests per second each client IP may send (0: no limit)");
  settings.access.burst = env.integer("API_GATEWAY_RATE_LIMIT_BURST", 0, 0, 1'000'000,
                                      "requests a client IP may send at once (0: same as the rate)");
  return settings;
}

namespace {

bool isMutating(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

// The gateway's admission: health and metrics are always answered (probes and scrapes); otherwise the
// client's rate limit first (so a token cannot be guessed at full speed), then the token for writes.
http::Admission makeAdmission(const AccessSettings& access) {
  std::shared_ptr<ClientRateLimiter> limiter;
  if (access.ratePerSecond > 0) {
    auto rate = static_cast<double>(access.ratePerSecond);
    limiter = std::make_shared<ClientRateLimiter>(
        rate, access.burst > 0 ? static_cast<double>(access.burst) : rate);
  }
  std::string token = access.token;
  return [limiter, token](const http::Request& request, const std::string& route) -> Status {
    if (route == "/healthz" || route == "/readyz" || route == "/metrics") {
      return okStatus();
    }
    if (limiter) {
      auto decision = limiter->admit(request.remoteAddress, ClientRateLimiter::Clock::now());
      if (!decision.allowed) {
        return Status::fromHttp(429, "rate_limited",
                                "too many requests from this client; retry after " +
                                    std::to_string(decision.retryAfterSeconds) + " s")
            .withRetryAfter(std::chrono::seconds(decision.retryAfterSeconds));
      }
    }
    if (!token.empty() && isMutating(request.method) &&
        !bearerTokenMatches(request.header("authorization"), token)) {
      // Answered with the platform's challenge, WWW-Authenticate: Bearer (Response::error).
      return Status::fromHttp(401, "unauthorized", request.method + " needs an Authorization: Bearer token");
    }
    return okStatus();
  };
}

// Checks the order and hands it to the publisher; `reply` is called on the publisher loop's thread, with
// 200 once RabbitMQ confirmed the order, 503 otherwise.
void postOrder(BillingPublisher& publisher, const http::Request& request, const http::Reply& reply) {
  // Same request rules as every JSON endpoint (content type, UTF-8, depth), then the order's own.
  if (auto body = http::parseJsonObject(request); !body.ok()) {
    reply(http::Response::error(body.status()));
    return;
  }
  if (auto order = parseOrderMessage(request.body); !order.ok()) {
    reply(http::Response::error(400, "invalid_order", order.status().message()));
    return;
  }
  StatusOr<std::string> messageId = orderMessageId(request.header("idempotency-key"));
  if (!messageId.ok()) {
    reply(http::Response::error(400, "invalid_idempotency_key", messageId.status().message()));
    return;
  }
  publisher.publish(request.body, std::move(*messageId), [reply](Status published) {
    if (!published.ok()) {
      reply(http::Response::error(503, "broker_unavailable", published.message() + "; retry shortly"));
      return;
    }
    reply(http::Response::json(200, {{"message", "Message posted"}}));
  });
}

}  // namespace

int run(const GatewaySettings& settings) {
  log::setup(settings.service.service, settings.service.logLevel);
  ServiceMetrics metrics(settings.service.service);
  // Before the server: its handlers use the proxy until the server has stopped. One share of the
  // upstream connections per reactor thread, driven by it: a request is parsed, forwarded, answered by
  // inventory-app and answered to its client on one thread.
  ProxySettings proxy = settings.inventory;
  proxy.loops = static_cast<size_t>(std::max(settings.service.server.reactorThreads, 1));
  proxy.hosted = true;
  InventoryProxy inventory(proxy);
  // Likewise one AMQP connection per reactor thread: an order is parsed, published, confirmed and
  // answered on one thread.
  BillingPublisherSettings publishing = settings.billing;
  publishing.loops = proxy.loops;
  publishing.hosted = true;
  BillingPublisher billing(publishing, metrics);
  http::HttpServer server(settings.service.server, metrics);
  for (size_t reactor = 0; reactor < inventory.loops(); ++reactor) {
    server.host(reactor, inventory.loop(reactor));
    server.host(reactor, billing.loop(reactor));
  }
  billing.start();

  auto forward = [&inventory](const http::Request& request, http::Reply reply) {
    inventory.forward(request, std::move(reply));
  };
  // The list may be inventory-app's chunked stream: passed on as it comes (InventoryProxy::forwardStreaming).
  server.routeStream(
      "GET", "/api/movies",
      [&inventory](const http::Request& request, std::shared_ptr<http::ResponseStream> answer) {
        inventory.forwardStreaming(request, std::move(answer));
      },
      http::Dispatch::kAsync);
  for (const char* method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    server.routeAsync(method, "/api/movies", forward);
    server.routeAsync(method, "/api/movies/:id", forward);
    server.routeAsync(method, "/api/movies/*", forward);
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
  server.routeAsync("POST", "/api/billing",
                    [&billing](const http::Request& r, http::Reply reply) { postOrder(billing, r, reply); });
  server.setAdmission(makeAdmission(settings.access));
  // Ready means the gateway can do its main job, forwarding to inventory-app. The broker serves
  // POST /api/billing alone, which answers a fast 503 while it is away (docs/contract.md, readiness): a pod
  // taken out of its Service for the broker's sake would fail movie reads too.
  server.setReadiness([&inventory] { return inventory.reachable(); });
  // The drain waits for the orders' confirms (asynchronous answers); the reactors then stop, and the
  // publisher's loops end on this thread.
  int code = serveUntilSignal(server, settings.service);
  billing.stop();
  return code;
}

}  // namespace mp::gateway
