#pragma once

#include <string>

#include "common/config.h"
#include "common/postgres_async.h"
#include "common/service.h"

namespace mp::inventory {

struct InventorySettings {
  ServiceSettings service;
  std::string databaseUrl;
  pg::AsyncPoolOptions pool;
};

InventorySettings readSettings(Environment& env);

// Runs inventory-app until SIGTERM; returns the exit code.
int run(const InventorySettings& settings);

}  // namespace mp::inventory
