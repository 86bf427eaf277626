#include "billing/billing_app.h"

#include <thread>

#include "base/log.h"
#include "billing/order_store.h"
#include "billing/queue_depth_probe.h"
#include "common/broker_settings.h"
#include "common/config.h"
#include "common/postgres.h"
#include "common/service.h"
#include "http/http_server.h"
#include "http/metrics.h"

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
  StatusOr<std::vector<StoredOrder>> orders = store.recent(limit);
  if (!orders.ok()) {
    return http::Response::error(503, "database_unavailable", "the orders database cannot be reached");
  }
  nlohmann::json body = nlohmann::json::array();
  for (const StoredOrder& order : *orders) {
    body.push_back(toJson(order));
  }
  return http::Response::json(200, body);
}

}  // namespace

BillingSettings readSettings(Environment& env) {
  BillingSettings settings;
  settings.service = readServiceSettings(env, "billing-app", "BILLING_APP_PORT", 8080);
  settings.databaseUrl =
      env.requiredUrl("BILLING_DATABASE_URL", {"postgresql", "postgres"}, "libpq URI of the orders database");
  settings.consumer.broker = readBrokerSettings(env);
  settings.consumer.queue = readBillingQueue(env);
  settings.consumer.batchSize = static_cast<std::size_t>(env.integer(
      "BILLING_BATCH_SIZE", 500, 1, 5000, "orders stored per transaction (prefetch is twice this)"));
  return settings;
}

int run(const BillingSettings& settings) {
  log::setup(settings.service.service, settings.service.logLevel);
  const std::string& service = settings.service.service;
  ServiceMetrics metrics(service);
  pg::PoolOptions poolOptions;
  poolOptions.size = 3;  // the consumer's connection, /api/orders and /readyz
  poolOptions.applicationName = service;
  pg::Pool pool(settings.databaseUrl, {}, poolOptions, &metrics, service);
  OrderStore store(pool);
  QueueDepthProbe queueDepth(settings.consumer.broker, settings.consumer.queue, metrics);
  OrderConsumer consumer(settings.consumer, store, pool, metrics, &queueDepth.unacked());

  http::HttpServer server(settings.service.server, metrics);
  server.route("GET", "/api/orders",
               [&store](const http::Request& request) { return listOrders(store, request); });
  server.setReadiness([&pool, &consumer] {
    if (Status database = pool.ping(); !database.ok()) {
      return database;
    }
    return consumer.consuming() ? okStatus() : Status::unavailable("not consuming from the broker");
  });

  // The consumer has its own thread (rabbitmq-c connections are single-threaded); HTTP has its own.
  std::atomic<bool> stop{false};
  std::thread consumerThread([&] { consumer.run(stop); });
  // Its own connection and thread: a slow broker answer never delays the consumer.
  queueDepth.start();
  const int code = serveUntilSignal(server, settings.service);
  queueDepth.stop();
  // The batch in hand is committed and acknowledged before run() returns.
  stop = true;
  consumerThread.join();
  log::info("consumer_stopped");
  return code;
}

}  // namespace mp::billing
