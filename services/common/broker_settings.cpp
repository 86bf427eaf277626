#include "common/broker_settings.h"

namespace mp {

amqp::ConnectionSettings readBrokerSettings(Environment& env) {
  amqp::ConnectionSettings broker;
  const std::string url =
      env.requiredUrl("RABBITMQ_URL", {"amqp"}, "AMQP URI of RabbitMQ, e.g. amqp://user:pass@host:5672/%2f");
  if (!url.empty()) {
    amqp::Status parsed = amqp::parseUrl(url, &broker);
    if (!parsed.ok()) {
      env.reportError("RABBITMQ_URL: " + parsed.message());
    }
  }
  return broker;
}

std::string readBillingQueue(Environment& env) {
  return env.text("BILLING_QUEUE", "billing_queue",
                  "queue the gateway publishes orders to and billing-app consumes");
}

}  // namespace mp
