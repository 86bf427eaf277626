#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "http/hosted_loop.h"
#include "http/metrics.h"
#include "http/router.h"

namespace mp::http {

struct ServerOptions {
  std::string service;
  std::string bindAddress = "0.0.0.0";
  uint16_t port = 8080;  // 0: any free port (tests)
  int reactorThreads = 2;
  size_t workerThreads = 4;
  size_t workerQueueLimit = 4096;
  size_t maxRequestBytes = 1 << 20;  // request line + headers + body
  std::chrono::milliseconds headerTimeout{10'000};
  std::chrono::milliseconds bodyTimeout{30'000};
  std::chrono::milliseconds keepaliveTimeout{75'000};
  std::chrono::milliseconds drainTimeout{10'000};
  bool accessLog = true;
};

// Answers "are my dependencies reachable?": ok, or why not (the 503's message). Runs on a worker thread.
using ReadinessCheck = std::function<Status()>;

// Decides, before routing, whether a request may proceed (e.g. a bearer token, a rate limit): ok admits
// it; a failed Status refuses it, answered Response::error(status) (its HTTP status, reason, message and
// Retry-After). `route` is the matched template ("unmatched" when none). Runs on the reactor: must not block.
using Admission = std::function<Status(const Request& request, const std::string& route)>;

// The HTTP server every service runs: Pistache's listener and reactor threads (our transport on each,
// pistache_transport.h) parse requests (HTTP/1.1 keep-alive by default), the Router picks a handler,
// cheap handlers run inline, blocking ones on a bounded worker pool, and asynchronous ones on the
// event loops the reactor threads drive (host()). It serves /healthz, /readyz and /metrics, answers every
// error as the JSON of docs/openapi.yaml, records metrics and one access-log line per request, and drains
// in-flight work on stop. Thread-safe after start().
class HttpServer {
 public:
  HttpServer(ServerOptions options, ServiceMetrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes and the readiness check must be set before start(): the server's threads read them unlocked.
  void route(std::string method, const std::string& pattern, Handler handler,
             Dispatch dispatch = Dispatch::kWorker);
  // A handler that answers from elsewhere (router.h, AsyncHandler); the drain waits for its answers too.
  void routeAsync(std::string method, const std::string& pattern, AsyncHandler handler);
  // A handler that may stream its answer (router.h, ResponseStream), on a worker (kWorker: it may wait for
  // the client to take what it wrote) or asynchronous (kAsync); the drain waits for its end too.
  void routeStream(std::string method, const std::string& pattern, StreamHandler handler,
                   Dispatch dispatch = Dispatch::kWorker);
  void setReadiness(ReadinessCheck check);
  // Must be set before start().
  void setAdmission(Admission admission);
  // Has reactor thread `reactor` (0..reactorThreads-1) drive `piece` (hosted_loop.h): its work runs on
  // that thread, beside the requests that thread parses. Before start(); `piece` must outlive the server.
  void host(size_t reactor, HostedLoop& piece);
  // The index of the reactor thread that calls it (0..reactorThreads-1), or nullopt on any other thread.
  static std::optional<size_t> currentReactor();

  // Binds and serves on background threads. kUnavailable, with the address and why, when the port
  // cannot be bound.
  Status start();
  uint16_t port() const;

  // Turns /readyz to 503 `draining` and ends each kept-alive connection after its next answer (`Connection:
  // close`: its client reconnects, through a Service to another pod), still serving what arrives; waits
  // for queued and running requests (asynchronous ones too) up to drainTimeout; then answers those still
  // queued 503 `draining` without running them, waits for the handlers already running, and stops.
  // Idempotent.
  void drainAndStop();

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::atomic<bool> stopped_{false};
};

}  // namespace mp::http
