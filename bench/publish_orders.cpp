// publish-orders AMQP_URL QUEUE COUNT: declares the billing topology and publishes COUNT valid orders,
// persistent, each with a unique message_id, with pipelined publisher confirms. Prints the rate.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/amqp_connection.h"
#include "common/amqp_publisher.h"
#include "orders/billing_topology.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: publish-orders AMQP_URL QUEUE COUNT\n");
    return 2;
  }
  mp::amqp::ConnectionSettings settings;
  mp::amqp::Status status = mp::amqp::parseUrl(argv[1], &settings);
  if (!status.ok()) {
    std::fprintf(stderr, "publish-orders: %s\n", status.message().c_str());
    return 2;
  }
  const std::string queue = argv[2];
  const long count = std::atol(argv[3]);
  std::unique_ptr<mp::amqp::Connection> connection;
  status = mp::amqp::Connection::open(settings, &connection);
  if (status.ok()) {
    status = mp::amqp::declareBillingTopology(*connection, mp::amqp::BillingTopology::forQueue(queue));
  }
  mp::amqp::Publisher publisher(*connection);
  if (status.ok()) {
    status = publisher.enableConfirms();
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  // In slices, so that memory stays small for large counts.
  for (long from = 0; status.ok() && from < count; from += 10000) {
    std::vector<mp::amqp::OutgoingMessage> messages;
    for (long i = from; i < std::min(count, from + 10000); ++i) {
      messages.push_back({"{\"user_id\":\"" + std::to_string(i % 1000) +
                              "\",\"number_of_items\":" + std::to_string(1 + i % 9) + ",\"total_amount\":\"" +
                              std::to_string(i % 500) + ".99\"}",
                          "bench-" + run + "-" + std::to_string(i)});
    }
    status = publisher.publish("", queue, messages);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "publish-orders: %s\n", status.message().c_str());
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("published %ld orders in %.2f s (%.0f/s)\n", count, seconds, count / seconds);
  return 0;
}
