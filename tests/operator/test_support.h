#pragma once

#include <sys/types.h>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "http_test_server.h"
#include "support/child_process.h"

namespace mp::op::test {

// A temporary directory removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Programs are started as mp::test::ChildProcess (tests/support/child_process.h), as in every test.
using mp::test::ChildProcess;
using mp::test::testBinary;

// Polls `condition` every 100 ms until it holds or `timeout` passes; returns the last result.
bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A TCP port on 127.0.0.1 that was free a moment ago (for programs that cannot report a port 0 bind).
int freeLoopbackPort();

// A /metrics endpoint on loopback whose sample lines the test sets.
// Thread-safety: set() from any thread while Prometheus scrapes.
class FakeExporter {
 public:
  FakeExporter();
  void set(const std::string& series, double value);  // series like name{label="x"}
  void remove(const std::string& series);
  std::string address() const { return "127.0.0.1:" + std::to_string(server_.port()); }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, double> values_;
  HttpTestServer server_;
};

// The real Prometheus (Debian package) scraping `targets` every second, with its data in `dataDir`.
class PrometheusServer {
 public:
  PrometheusServer(const std::string& dataDir, const std::vector<std::string>& targets);
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Waits until `query` returns a non-empty result.
  bool waitForData(const std::string& query, std::chrono::milliseconds timeout) const;
  void stop();
  bool running() { return process_ && process_->running(); }

 private:
  int port_;
  std::unique_ptr<ChildProcess> process_;
};

// GET url, returning the body, or "" on any failure.
std::string httpGetText(const std::string& url);

// The series the scenarios' ServicePolicies read the gateway's load from (their exporter sets it).
inline const std::string kLoad = "app_requests_per_second{service=\"api-gateway\"}";

}  // namespace mp::op::test

namespace mp::op::test {

// A YAML document as JSON (plain scalars become numbers/booleans/null where YAML 1.2 core says so;
// quoted scalars stay strings). Throws on unreadable files.
nlohmann::json loadYamlAsJson(const std::string& path);

// The repository root (MP_SOURCE_DIR, set by CTest) joined with `relative`.
std::string sourcePath(const std::string& relative);

// The condition of `type` in a ServicePolicy object's status, or an empty object.
nlohmann::json conditionOf(const nlohmann::json& policy, const std::string& type);

// The (verb, group, resource) triples the operator's RBAC rules file grants.
std::set<std::tuple<std::string, std::string, std::string>> rbacGrants(const nlohmann::json& rules);

}  // namespace mp::op::test
