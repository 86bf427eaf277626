#pragma once

#include <string>

#include "base/log.h"
#include "common/config.h"
#include "http/http_server.h"

namespace mp {

// The settings every service reads the same way: bind address, its port, log level, HTTP threads,
// request size limit, timeouts and drain time.
struct ServiceSettings {
  std::string service;
  log::Level logLevel = log::Level::kInfo;
  http::ServerOptions server;
};

ServiceSettings readServiceSettings(Environment& env, const std::string& service,
                                    const std::string& portVariable, uint16_t defaultPort);

// Starts the server, logs "started", blocks until SIGTERM/SIGINT, drains and stops it. Returns the
// process exit code (0 after a clean drain, 1 when the port could not be bound).
int serveUntilSignal(http::HttpServer& server, const ServiceSettings& settings);

}  // namespace mp
