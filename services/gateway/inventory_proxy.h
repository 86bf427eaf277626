#pragma once

#include <chrono>
#include <string>

#include "base/status.h"
#include "common/http.h"

namespace mp::gateway {

struct ProxySettings {
  std::string baseUrl;  // e.g. http://inventory-app:8080 (no trailing slash)
  std::chrono::milliseconds connectTimeout{1000};
  std::chrono::milliseconds timeout{10000};
};

// Forwards a request to inventory-app unchanged (method, path, query, body, Content-Type) and returns
// its status, body, Content-Type and Location unchanged. Each calling thread keeps its own libcurl
// handle, so upstream connections stay open and are reused. Thread-safe.
class InventoryProxy {
 public:
  explicit InventoryProxy(ProxySettings settings);

  // Upstream refused or broke: 502 upstream_unavailable; too slow: 504 upstream_timeout.
  http::Response forward(const http::Request& request) const;

  // True when inventory-app answers its /healthz now (for the gateway's readiness).
  Status reachable() const;

 private:
  ProxySettings settings_;
};

}  // namespace mp::gateway
