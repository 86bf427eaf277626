#include "billing/billing_app.h"

#include <iostream>
#include <thread>

#include "billing/order_consumer.h"
#include "billing/order_store.h"
#include "common/config.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/postgres.h"
#include "common/shutdown.h"

namespace mp::billing {
namespace {

constexpr int kDefaultOrdersLimit = 100;
constexpr int kMaxOrdersLimit = 1000;

nlohmann::json toJson(const StoredOrder& order) {
  return {{"id", order.id},
          {"user_id", order.userId},
          {"number_of_items", order.numberOfItems},
          {"total_amount", order.totalAmount},
          {"message_id", order.messageId ? nlohmann::json(*order.messageId) : nlohmann::json(nullptr)},
          {"created_at", order.createdAt}};
}

http::Response listOrders(OrderStore& store, const http::Request& request) {
  int limit = kDefaultOrdersLimit;
  if (auto text = request.queryParam("limit")) {
    const bool digits =
        !text->empty() && text->size() <= 6 && text->find_first_not_of("0123456789") == std::string::npos;
    limit = digits ? std::stoi(*text) : 0;
    if (limit < 1 || limit > kMaxOrdersLimit) {
      return http::Response::error(400, "invalid_limit",
                                   "limit must be an integer from 1 to " + std::to_string(kMaxOrdersLimit));
    }
  }
  std::vector<StoredOrder> orders;
  std::string reason;
  if (!store.recent(limit, &orders, &reason)) {
    return http::Response::error(503, "database_unavailable", "the orders database cannot be reached");
  }
  nlohmann::json body = nlohmann::json::array();
  for (const StoredOrder& order : orders) {
    body.push_back(toJson(order));
  }
  return http::Response::json(200, body);
}

}  // namespace

int runBillingApp(int argc, char** argv) {
  // Before any thread starts, so that every thread inherits the blocked mask and sigwait sees the signal.
  blockTerminationSignals();

  Environment env;
  const uint16_t port = env.port("BILLING_APP_PORT", 8080, "HTTP port for health, metrics and /api/orders");
  const std::string bindAddress = env.text("BIND_ADDRESS", "0.0.0.0", "address the HTTP server listens on");
  const std::string databaseUrl =
      env.requiredUrl("BILLING_DATABASE_URL", {"postgresql", "postgres"}, "libpq URI of the orders database");
  const std::string rabbitUrl = env.requiredUrl("RABBITMQ_URL", {"amqp"}, "AMQP URI of the broker");
  const std::string queue = env.text("BILLING_QUEUE", "billing_queue", "queue the orders arrive on");
  const int64_t batchSize = env.integer("BILLING_BATCH_SIZE", 500, 1, 5000,
                                        "orders stored per transaction (prefetch is twice this)");
  const std::string level = env.choice("LOG_LEVEL", "info", {"debug", "info", "warn", "error"}, "log level");
  finishConfiguration(env, argc, argv, "billing-app: stores the orders of the billing queue in PostgreSQL");

  ConsumerOptions options;
  options.queue = queue;
  options.batchSize = static_cast<std::size_t>(batchSize);
  amqp::Status urlStatus = amqp::parseUrl(rabbitUrl, &options.broker);
  if (!urlStatus.isOk()) {
    std::cerr << "billing-app: configuration error: RABBITMQ_URL: " << urlStatus.message() << "\n";
    return 2;
  }
  log::Level minimum = log::Level::kInfo;
  log::parseLevel(level, &minimum);
  log::setup("billing-app", minimum);

  ServiceMetrics metrics("billing-app");
  pg::PoolOptions poolOptions;
  poolOptions.size = 3;  // the consumer's connection, /api/orders and /readyz
  poolOptions.applicationName = "billing-app";
  pg::Pool pool(databaseUrl, {}, poolOptions, &metrics, "billing-app");
  OrderStore store(pool);
  OrderConsumer consumer(options, store, pool, metrics);

  http::ServerOptions serverOptions;
  serverOptions.service = "billing-app";
  serverOptions.bindAddress = bindAddress;
  serverOptions.port = port;
  serverOptions.workerThreads = 2;
  http::HttpServer server(serverOptions, metrics);
  server.route("GET", "/api/orders",
               [&store](const http::Request& request) { return listOrders(store, request); });
  server.setReadiness([&pool, &consumer](std::string* reason) {
    if (!pool.ping(reason)) {
      return false;
    }
    if (!consumer.consuming()) {
      *reason = "not consuming from the broker";
      return false;
    }
    return true;
  });
  std::string error;
  if (!server.start(&error)) {
    log::error("http_start_failed", {{"reason", error}});
    return 1;
  }
  log::info("started", {{"port", server.port()}, {"queue", queue}, {"batch_size", batchSize}});

  std::atomic<bool> stop{false};
  std::thread consumerThread([&] { consumer.run(stop); });
  const int signo = waitForTerminationSignal();
  log::info("stopping", {{"signal", signo}});
  stop = true;
  consumerThread.join();
  server.drainAndStop();
  log::info("stopped");
  return 0;
}

}  // namespace mp::billing
