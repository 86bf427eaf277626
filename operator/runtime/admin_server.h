#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/status.h"

namespace Pistache::Http {
class Endpoint;
}

namespace mp::op {

// The operator's own /healthz, /readyz and /metrics over Pistache.
// Thread-safety: start() and stop() from the owning thread; the callbacks run on Pistache's threads.
class AdminServer {
 public:
  AdminServer(std::function<bool()> ready, std::function<std::string()> metricsText);
  ~AdminServer();

  Status start(const std::string& bindAddress, int port);
  void stop();

 private:
  std::function<bool()> ready_;
  std::function<std::string()> metricsText_;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
};

}  // namespace mp::op
