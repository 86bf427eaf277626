#pragma once

#include <string>

#include "billing/order_consumer.h"
#include "common/config.h"
#include "common/service.h"

namespace mp::billing {

struct BillingSettings {
  ServiceSettings service;
  std::string databaseUrl;  // BILLING_DATABASE_URL
  ConsumerOptions consumer;
};

BillingSettings readSettings(Environment& env);

// Runs billing-app until SIGTERM: serves HTTP and runs the order consumer; returns the exit code.
int run(const BillingSettings& settings);

}  // namespace mp::billing
