#pragma once

#include <string>

#include "common/amqp_connection.h"
#include "common/config.h"

namespace mp {

// RABBITMQ_URL, read the same way by every program that talks to the broker: required, amqp://, parsed
// into connection settings. A bad URL is reported to `env` by its variable's name, never its value (it
// may hold a password).
amqp::ConnectionSettings readBrokerSettings(Environment& env);

// BILLING_QUEUE: the queue the gateway publishes orders to and billing-app consumes (default
// billing_queue); its dead-letter names follow from it (orders/billing_topology.h).
std::string readBillingQueue(Environment& env);

}  // namespace mp
