#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "support/service_process.h"

namespace mp::test {

// The project's services as the tests start them: a ServiceProcess (service_process.h) of the binary the
// build names (MP_INVENTORY_APP, MP_API_GATEWAY, MP_BILLING_APP), bound to 127.0.0.1 on a port the kernel
// picks, its access log off. `settings` add to these and replace any of the same name. Not started yet:
// the caller calls start() and says what it expects.

// inventory-app on the database at `databaseUrl`.
std::unique_ptr<ServiceProcess> inventoryApp(const std::string& databaseUrl,
                                             const EnvironmentOverrides& settings = {});

// api-gateway in front of the inventory-app on 127.0.0.1:`inventoryPort` (1: nothing listens), its broker
// unreachable (127.0.0.1:1) unless `settings` name RABBITMQ_URL.
std::unique_ptr<ServiceProcess> apiGateway(uint16_t inventoryPort, const EnvironmentOverrides& settings = {});

// billing-app on the database at `databaseUrl`, consuming `queue` of the broker at `amqpUrl`.
std::unique_ptr<ServiceProcess> billingApp(const std::string& databaseUrl, const std::string& amqpUrl,
                                           const std::string& queue,
                                           const EnvironmentOverrides& settings = {});

// `defaults` with `settings` set over them: one entry per name, a setting's value where both have it.
EnvironmentOverrides withSettings(EnvironmentOverrides defaults, const EnvironmentOverrides& settings);

}  // namespace mp::test
