#include "support/services.h"

#include <algorithm>

namespace mp::test {

EnvironmentOverrides withSettings(EnvironmentOverrides defaults, const EnvironmentOverrides& settings) {
  for (const auto& [name, value] : settings) {
    auto same = std::find_if(defaults.begin(), defaults.end(),
                             [&](const auto& entry) { return entry.first == name; });
    if (same != defaults.end()) {
      same->second = value;
    } else {
      defaults.emplace_back(name, value);
    }
  }
  return defaults;
}

std::unique_ptr<ServiceProcess> inventoryApp(const std::string& databaseUrl,
                                             const EnvironmentOverrides& settings) {
  return std::make_unique<ServiceProcess>(ServiceProcess::binaryFromEnvironment("MP_INVENTORY_APP"),
                                          withSettings({{"INVENTORY_DATABASE_URL", databaseUrl},
                                                        {"INVENTORY_APP_PORT", "0"},
                                                        {"BIND_ADDRESS", "127.0.0.1"},
                                                        {"ACCESS_LOG", "off"}},
                                                       settings));
}

std::unique_ptr<ServiceProcess> apiGateway(uint16_t inventoryPort, const EnvironmentOverrides& settings) {
  return std::make_unique<ServiceProcess>(
      ServiceProcess::binaryFromEnvironment("MP_API_GATEWAY"),
      withSettings({{"INVENTORY_APP_URL", "http://127.0.0.1:" + std::to_string(inventoryPort)},
                    {"API_GATEWAY_PORT", "0"},
                    {"BIND_ADDRESS", "127.0.0.1"},
                    {"ACCESS_LOG", "off"},
                    {"RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/%2f"}},
                   settings));
}

std::unique_ptr<ServiceProcess> billingApp(const std::string& databaseUrl, const std::string& amqpUrl,
                                           const std::string& queue, const EnvironmentOverrides& settings) {
  return std::make_unique<ServiceProcess>(ServiceProcess::binaryFromEnvironment("MP_BILLING_APP"),
                                          withSettings({{"BILLING_DATABASE_URL", databaseUrl},
                                                        {"BILLING_APP_PORT", "0"},
                                                        {"BIND_ADDRESS", "127.0.0.1"},
                                                        {"ACCESS_LOG", "off"},
                                                        {"RABBITMQ_URL", amqpUrl},
                                                        {"BILLING_QUEUE", queue}},
                                                       settings));
}

}  // namespace mp::test
