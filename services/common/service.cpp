#include "common/service.h"

#include <thread>

#include "base/signals.h"

namespace mp {

ServiceSettings readServiceSettings(Environment& env, const std::string& service,
                                    const std::string& portVariable, uint16_t defaultPort) {
  ServiceSettings settings;
  settings.service = service;
  auto& server = settings.server;
  server.service = service;
  server.bindAddress = env.text("BIND_ADDRESS", "0.0.0.0", "address to listen on");
  server.port = env.port(portVariable, defaultPort, "HTTP port (0: any free port)");
  auto level = env.choice("LOG_LEVEL", "info", {"debug", "info", "warn", "error"}, "minimum log level");
  log::parseLevel(level, &settings.logLevel);
  server.accessLog = env.choice("ACCESS_LOG", "on", {"on", "off"}, "one log line per request") == "on";
  server.reactorThreads = static_cast<int>(
      env.integer("HTTP_THREADS", std::max(1u, std::min(4u, std::thread::hardware_concurrency())), 1, 64,
                  "threads that read and write connections"));
  server.maxRequestBytes = static_cast<size_t>(env.integer("MAX_REQUEST_BYTES", 1 << 20, 1024, 64 << 20,
                                                           "largest accepted request, headers included"));
  server.keepaliveTimeout = env.duration("KEEPALIVE_TIMEOUT", std::chrono::seconds(75),
                                         "idle time before a kept-alive connection closes");
  server.drainTimeout = env.duration("SHUTDOWN_DRAIN_TIMEOUT", std::chrono::seconds(10),
                                     "longest wait for in-flight work on SIGTERM");
  return settings;
}

int serveUntilSignal(http::HttpServer& server, const ServiceSettings& settings) {
  if (Status started = server.start(); !started.ok()) {
    log::error("start_failed", {{"reason", started.message()}});
    return 1;
  }
  log::info("started", {{"address", settings.server.bindAddress}, {"port", server.port()}});
  int signal = waitForTerminationSignal();
  log::info("stopping", {{"signal", signal}});
  server.drainAndStop();
  log::info("stopped");
  return 0;
}

}  // namespace mp
