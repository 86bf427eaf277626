#include "support/broker.h"

#include <amqp_framing.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "orders/billing_topology.h"

namespace mp::test {

std::string requiredEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    ADD_FAILURE() << name << " is not set: run the tests through scripts/test";
    return "";
  }
  return value;
}

std::unique_ptr<amqp::Connection> connectToTestBroker() {
  amqp::ConnectionSettings settings;
  amqp::Status status = amqp::parseUrl(requiredEnv("MP_TEST_AMQP_URL"), &settings);
  if (!status.ok()) {
    ADD_FAILURE() << "MP_TEST_AMQP_URL: " << status.message();
    return nullptr;
  }
  std::unique_ptr<amqp::Connection> connection;
  status = amqp::Connection::open(settings, &connection);
  if (!status.ok()) {
    ADD_FAILURE() << status.message();
    return nullptr;
  }
  return connection;
}

bool publishAll(const std::string& queue, const std::vector<amqp::OutgoingMessage>& messages) {
  std::unique_ptr<amqp::Connection> connection = connectToTestBroker();
  if (!connection) {
    return false;
  }
  amqp::Publisher publisher(*connection);
  amqp::Status status = publisher.enableConfirms();
  if (status.ok()) {
    status = publisher.publish("", queue, messages);
  }
  EXPECT_TRUE(status.ok()) << status.message();
  return status.ok();
}

long countReady(const std::string& queue) {
  std::unique_ptr<amqp::Connection> connection = connectToTestBroker();
  if (!connection) {
    return -1;
  }
  uint32_t count = 0;
  amqp::Status status = amqp::countMessages(*connection, queue, &count);
  EXPECT_TRUE(status.ok()) << status.message();
  return status.ok() ? static_cast<long>(count) : -1;
}

void deleteBillingTopology(const std::string& queue) {
  std::unique_ptr<amqp::Connection> connection = connectToTestBroker();
  if (!connection) {
    return;
  }
  const amqp::BillingTopology topology = amqp::BillingTopology::forQueue(queue);
  for (const std::string& name : {topology.queue, topology.deadLetterQueue}) {
    amqp_queue_delete(connection->state(), amqp::Connection::kChannel, amqp_cstring_bytes(name.c_str()),
                      false, false);
    connection->check(amqp_get_rpc_reply(connection->state()), "queue.delete");
  }
  amqp_exchange_delete(connection->state(), amqp::Connection::kChannel,
                       amqp_cstring_bytes(topology.deadLetterExchange.c_str()), false);
  connection->check(amqp_get_rpc_reply(connection->state()), "exchange.delete");
}

bool brokerControl(const std::string& action) {
  const std::string script = requiredEnv("MP_TEST_RABBITMQ_CTL");
  if (script.empty()) {
    return false;
  }
  const std::string command = script + " " + action;
  const int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << command;
  return rc == 0;
}

}  // namespace mp::test
