// operator-fixture: the real platform-operator against the Kubernetes API test double, for checks that
// need a running operator but no cluster (tests/observability/live-queries). It creates the platform's
// three Deployments with a ServicePolicy each whose queries read the given Prometheus (the local
// stack's), starts the operator with its metrics on --metrics-port, prints "ready" and runs until
// SIGTERM or SIGINT, then stops the operator and the API double.
//   operator-fixture --operator BIN --prometheus-url URL --metrics-port PORT --log FILE
#include <signal.h>

#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include "fake_kube_api.h"
#include "test_support.h"

namespace {

using nlohmann::json;
using namespace mp::op::test;

const std::string kNamespace = "default";

json policySpec(const std::string& deployment, const std::string& metric, const std::string& query,
                double targetPerReplica) {
  return {{"targetRef", {{"kind", "Deployment"}, {"name", deployment}}},
          {"minReplicas", 1},
          {"maxReplicas", 3},
          {"metrics",
           json::array({{{"name", metric}, {"query", query}, {"targetPerReplica", targetPerReplica}}})},
          {"behavior", {{"scaleUpStabilizationSeconds", 0}, {"scaleDownStabilizationSeconds", 300}}},
          {"health", {{"query", "up{service=\"" + deployment + "\"} == 0"}, {"unhealthyAfterSeconds", 60}}}};
}

int run(const std::map<std::string, std::string>& args) {
  // Before the API double starts its threads, so that only sigwait below receives these signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  TempDir dir;
  FakeKubeApi api;
  const std::string deployments = "/apis/apps/v1/namespaces/" + kNamespace + "/deployments";
  const std::string policies =
      "/apis/platform.movies.dev/v1alpha1/namespaces/" + kNamespace + "/servicepolicies";
  // The same signals as the chart's policies: request rate for the HTTP services, backlog for billing.
  const std::map<std::string, json> specs = {
      {"api-gateway", policySpec("api-gateway", "request_rate",
                                 "sum(rate(http_requests_total{service=\"api-gateway\"}[1m]))", 200)},
      {"inventory-app", policySpec("inventory-app", "request_rate",
                                   "sum(rate(http_requests_total{service=\"inventory-app\"}[1m]))", 200)},
      {"billing-app",
       policySpec("billing-app", "queue_ready",
                  "max(billing_queue_messages{state=\"ready\",queue=\"billing_queue\"})", 100)},
  };
  for (const auto& [name, spec] : specs) {
    api.createObject(deployments, deploymentObject(name, 1));
    api.createObject(policies, {{"apiVersion", "platform.movies.dev/v1alpha1"},
                                {"kind", "ServicePolicy"},
                                {"metadata", {{"name", name}}},
                                {"spec", spec}});
  }
  ChildProcess operatorProcess(
      {args.at("--operator"), "--kubeconfig", api.writeKubeconfig(dir.path()), "--prometheus-url",
       args.at("--prometheus-url"), "--namespace", kNamespace, "--sync-period", "2s",
       "--metrics-bind-address", "127.0.0.1", "--metrics-port", args.at("--metrics-port")},
      args.at("--log"));
  std::cout << "ready: fake Kubernetes API at " << api.url() << ", operator pid " << operatorProcess.pid()
            << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  operatorProcess.stop(SIGTERM);
  api.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) {
    args[argv[i]] = argv[i + 1];
  }
  for (const char* required : {"--operator", "--prometheus-url", "--metrics-port", "--log"}) {
    if (args.count(required) == 0) {
      std::cerr
          << "usage: operator-fixture --operator BIN --prometheus-url URL --metrics-port PORT --log FILE\n";
      return 2;
    }
  }
  return run(args);
}
