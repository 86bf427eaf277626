#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/kube_client.h"
#include "test_support.h"

namespace mp::op::test {

// Why the real API server of MP_CLUSTER_DIR (scripts/cluster) cannot be used, or "" when it can: the
// variable is set, the kube-apiserver process `up` started is alive and /readyz answers.
std::string clusterUnavailableReason();

// What an integration test runs the real platform-operator against on the real API server of
// MP_CLUSTER_DIR: a namespace of its own (deleted at the end), the ServicePolicy CRD from the chart, the
// ServiceAccount platform-operator bound to a Role made of charts/.../operator-rbac-rules.yaml, an
// exporter whose values the test sets and a real Prometheus scraping it every second. The test itself
// acts with the admin kubeconfig; the operator only ever gets a TokenRequest token of the
// ServiceAccount, so the server's RBAC applies to it. Throws std::runtime_error when the cluster is
// unusable or a setup request fails. Thread-safety: use from the test thread, except api() (KubeClient
// is thread-safe).
class ClusterHarness {
 public:
  ClusterHarness();
  ~ClusterHarness();
  ClusterHarness(const ClusterHarness&) = delete;
  ClusterHarness& operator=(const ClusterHarness&) = delete;

  KubeClient& api() { return *admin_; }
  FakeExporter& exporter() { return exporter_; }
  PrometheusServer& prometheus() { return *prometheus_; }
  const std::string& ns() const { return namespace_; }
  // The user name the server gives the operator's token: system:serviceaccount:<ns>:platform-operator.
  std::string operatorUser() const;

  // Path of an object or collection in the harness's namespace: path("apps", "deployments", "x"). The
  // version is v1, but v1alpha1 for ServicePolicies and v2 for group autoscaling.
  std::string path(const std::string& group, const std::string& plural, const std::string& name = "",
                   const std::string& subresource = "") const;

  void createDeployment(const std::string& name, int replicas);
  // Creates the policy; returns the server's error (e.g. 422 for what the CRD schema forbids).
  StatusOr<nlohmann::json> createPolicy(const std::string& name, const nlohmann::json& spec);
  void patchPolicySpec(const std::string& name, const nlohmann::json& specPatch);
  int replicas(const std::string& deployment);
  // Pods with label app=<deployment> that are not being deleted.
  std::vector<std::string> livePodNames(const std::string& deployment);
  bool podGoneOrTerminating(const std::string& pod);
  nlohmann::json policy(const std::string& name);
  nlohmann::json condition(const std::string& policy, const std::string& type);
  // Events about `policy` whose reason is one of `reasons`, oldest first.
  std::vector<nlohmann::json> events(const std::string& policy, const std::vector<std::string>& reasons);
  std::string leaseHolder();

  // The API server's audit records of requests in the harness's namespace by the operator's
  // ServiceAccount, oldest first: writes (ResponseComplete), and with `reads` also its get, list and
  // watch (a watch as soon as it started: ResponseStarted or ResponseComplete).
  std::vector<nlohmann::json> operatorRequests(bool reads);
  std::vector<nlohmann::json> operatorWrites() { return operatorRequests(false); }

  // The API server's port on 127.0.0.1, and a loopback port (a proxy in front of it) that operators
  // started from now on connect to instead; TLS still verifies, the certificate names 127.0.0.1.
  int apiServerPort() const;
  void routeOperatorsThrough(int port) { operatorPort_ = port; }

  // Starts the real binary (MP_OPERATOR_BIN) with a fresh TokenRequest-token kubeconfig, the harness's
  // namespace and Prometheus, plus `extra`.
  std::unique_ptr<ChildProcess> startOperator(const std::string& identity,
                                              const std::vector<std::string>& extra);

 private:
  void setUpRbac();
  std::string operatorKubeconfig(const std::string& identity);

  TempDir dir_;
  std::string clusterDir_;
  std::unique_ptr<KubeClient> admin_;
  KubeConnection adminConnection_;
  std::string namespace_;
  int operatorPort_ = 0;  // 0: the API server's own
  FakeExporter exporter_;
  std::unique_ptr<PrometheusServer> prometheus_;
};

// The identity an audit record's userAgent names ("platform-operator/0.1 (op-a)" gives "op-a").
std::string identityOf(const nlohmann::json& auditRecord);

}  // namespace mp::op::test
