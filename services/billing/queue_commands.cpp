#include "billing/queue_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/log.h"
#include "common/broker_settings.h"
#include "common/config.h"
#include "orders/billing_topology.h"

namespace mp::billing {
namespace {

const char* const kReplay = "replay-dead-letters";
const char* const kMigrate = "migrate-topology";

}  // namespace

bool isQueueCommand(int argc, char** argv) {
  return argc >= 2 && (std::string(argv[1]) == kReplay || std::string(argv[1]) == kMigrate);
}

int runQueueCommand(int argc, char** argv) {
  const std::string command = argv[1];
  Environment env;
  const amqp::ConnectionSettings broker = readBrokerSettings(env);
  const std::string queue = readBillingQueue(env);
  // The command word is not an argument of finishConfiguration; anything after it is refused there.
  finishConfiguration(
      env, argc - 1, argv + 1,
      command == kReplay ? "billing-app replay-dead-letters: moves the messages of <BILLING_QUEUE>.dlq back "
                           "to BILLING_QUEUE (each once; their message_id keeps them from being stored twice)"
                         : "billing-app migrate-topology: redeclares queues left by an earlier version with "
                           "the current arguments, keeping their messages (stop billing-app first)");
  log::setup("billing-app", log::Level::kInfo);
  const auto topology = amqp::BillingTopology::forQueue(queue);
  nlohmann::json result = {{"command", command}, {"queue", queue}};
  amqp::Status status = okStatus();
  if (command == kReplay) {
    amqp::ReplayReport report;
    status = amqp::replayDeadLetters(broker, topology, &report);
    result["dead_lettered"] = report.waiting;
    result["replayed"] = report.replayed;
  } else {
    amqp::MigrationReport report;
    status = amqp::migrateBillingTopology(broker, topology, &report);
    result["migrated"] = report.migrated;
    result["messages_moved"] = report.moved;
  }
  result["ok"] = status.ok();
  if (!status.ok()) {
    result["error"] = status.message();
  }
  std::cout << result.dump() << std::endl;
  return status.ok() ? 0 : 1;
}

}  // namespace mp::billing
