#pragma once

#include <string>

#include "common/config.h"
#include "common/service.h"
#include "gateway/billing_publisher.h"
#include "gateway/inventory_proxy.h"

namespace mp::gateway {

struct GatewaySettings {
  ServiceSettings service;
  ProxySettings inventory;
  BillingPublisherSettings billing;
};

GatewaySettings readSettings(Environment& env);

// Runs api-gateway until SIGTERM; returns the exit code.
int run(const GatewaySettings& settings);

// The OpenAPI document served at /api/docs (docs/openapi.yaml, built into the program).
extern const char* const kOpenApiDocument;

}  // namespace mp::gateway
