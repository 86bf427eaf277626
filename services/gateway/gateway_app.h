#pragma once

#include <string>

#include "common/config.h"
#include "common/service.h"
#include "gateway/billing_publisher.h"
#include "gateway/inventory_proxy.h"

namespace mp::gateway {

// Who may do what at the gateway: an optional bearer token for writes and a per-client rate limit.
struct AccessSettings {
  std::string token;          // API_GATEWAY_TOKEN; empty: writes are open
  int64_t ratePerSecond = 0;  // API_GATEWAY_RATE_LIMIT_RPS; 0: no limit
  int64_t burst = 0;          // API_GATEWAY_RATE_LIMIT_BURST
};

struct GatewaySettings {
  ServiceSettings service;
  ProxySettings inventory;
  BillingPublisherSettings billing;
  AccessSettings access;
};

GatewaySettings readSettings(Environment& env);

// Runs api-gateway until SIGTERM; returns the exit code.
int run(const GatewaySettings& settings);

// The OpenAPI document served at /api/docs (docs/openapi.yaml, built into the program).
extern const char* const kOpenApiDocument;

}  // namespace mp::gateway
