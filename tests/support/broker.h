#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/amqp_connection.h"
#include "common/amqp_publisher.h"

namespace mp::test {

// The value of an environment variable scripts/test sets; fails the current test when it is missing.
std::string requiredEnv(const char* name);

// A connection to the broker scripts/test started (MP_TEST_AMQP_URL), or null after a test failure.
std::unique_ptr<amqp::Connection> connectToTestBroker();

// Publishes with confirms on a connection of its own; false (and a test failure) when not all confirmed.
bool publishAll(const std::string& queue, const std::vector<amqp::OutgoingMessage>& messages);

// Ready messages in `queue`, or -1 (and a test failure) when it cannot be read.
long countReady(const std::string& queue);

// Deletes the queue and its dead-letter parts, so test runs leave the broker as they found it.
void deleteBillingTopology(const std::string& queue);

// Stops or starts the test broker through scripts/test-rabbitmq (same node, port, users, durable queues).
bool brokerControl(const std::string& action);

}  // namespace mp::test
