#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fake_kube_api.h"
#include "test_support.h"

namespace mp::op::test {

// Everything an integration test runs the real platform-operator against: the Kubernetes API double,
// an exporter whose values the test sets, and a real Prometheus scraping it every second.
// Thread-safety: use from the test thread.
class OperatorHarness {
 public:
  OperatorHarness();
  ~OperatorHarness();

  FakeKubeApi& api() { return api_; }
  FakeExporter& exporter() { return exporter_; }
  PrometheusServer& prometheus() { return *prometheus_; }
  const std::string& dir() const { return dir_.path(); }

  void createDeployment(const std::string& name, int replicas);
  void createPolicy(const std::string& name, const nlohmann::json& spec);
  int replicas(const std::string& deployment);
  std::vector<std::string> podNames(const std::string& deployment);
  nlohmann::json policy(const std::string& name);
  nlohmann::json condition(const std::string& policy, const std::string& type);
  // Events about `policy` with `reason`, oldest first.
  std::vector<nlohmann::json> events(const std::string& policy, const std::string& reason);

  // Starts the real binary (MP_OPERATOR_BIN) with the harness's kubeconfig and Prometheus plus `extra`.
  std::unique_ptr<ChildProcess> startOperator(const std::string& identity,
                                              const std::vector<std::string>& extra);

 private:
  TempDir dir_;
  FakeKubeApi api_;
  FakeExporter exporter_;
  std::unique_ptr<PrometheusServer> prometheus_;
  std::string kubeconfig_;
};

}  // namespace mp::op::test
