#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "gateway/upstream_client.h"
#include "http/http.h"
#include "http/router.h"

namespace mp::gateway {

struct ProxySettings {
  std::string baseUrl;  // e.g. http://inventory-app:8080 (no trailing slash)
  std::chrono::milliseconds connectTimeout{1000};
  std::chrono::milliseconds timeout{10000};
  size_t maxConnections = 32;  // requests forwarded at once; more wait for a free connection
  std::chrono::milliseconds connectionMaxAge{10000};  // UpstreamSettings::connectionMaxAge
  size_t connectionMaxRequests = 1000;                // UpstreamSettings::connectionMaxRequests
  size_t loops = 1;                                   // UpstreamSettings::loops
  bool hosted = false;                                // UpstreamSettings::hosted
};

// Forwards a request to inventory-app unchanged (method, path, query, body, Content-Type) and answers
// with its status, body, Content-Type and Location unchanged. The requests go through an UpstreamClient:
// keep-alive connections on an event loop, so no thread waits for inventory-app. Thread-safe.
class InventoryProxy {
 public:
  explicit InventoryProxy(ProxySettings settings);

  // The upstream client's event loops, for their host (ProxySettings::hosted, HttpServer::host).
  size_t loops() const { return client_->loops(); }
  HostedLoop& loop(size_t index) { return client_->loop(index); }

  // Calls `reply` once, on the upstream loop's thread: inventory's answer; 502 upstream_unavailable when
  // it refused or broke; 504 upstream_timeout when too slow; 503 overloaded when too many wait.
  void forward(const http::Request& request, std::function<void(http::Response)> reply) const;
  // The same, but a chunked answer (inventory-app's unpaged list) is passed on as it arrives, piece by
  // piece, never gathered: while more than a window of it waits to go out to the client, inventory-app's
  // connection is not read (back-pressure reaches inventory-app, and through it the database). When that
  // answer breaks off, the client's is cut short too: its connection closes without the last chunk.
  void forwardStreaming(const http::Request& request, std::shared_ptr<http::ResponseStream> answer) const;

  // OK when inventory-app answers its /healthz within 1 s (the gateway's readiness). On a libcurl
  // connection of its own, not the UpstreamClient's: with every upstream connection busy, a check queued
  // behind them would time out and take a gateway that is merely busy out of its Service.
  Status reachable() const;

 private:
  ProxySettings settings_;
  std::string requestBytes(const http::Request& request) const;

  std::string hostHeader_;
  std::unique_ptr<UpstreamClient> client_;
};

}  // namespace mp::gateway
