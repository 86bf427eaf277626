#include "operator_harness.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace mp::op::test {

using nlohmann::json;

namespace {
const std::string kNamespace = "default";
}

OperatorHarness::OperatorHarness() {
  std::string data = dir_.path() + "/prometheus";
  std::filesystem::create_directories(data);
  prometheus_ = std::make_unique<PrometheusServer>(data, std::vector<std::string>{exporter_.address()});
  kubeconfig_ = api_.writeKubeconfig(dir_.path());
}

OperatorHarness::~OperatorHarness() {
  prometheus_->stop();
  api_.stop();
}

void OperatorHarness::createDeployment(const std::string& name, int replicas) {
  api_.createObject("/apis/apps/v1/namespaces/" + kNamespace + "/deployments",
                    deploymentObject(name, replicas));
}

void OperatorHarness::createPolicy(const std::string& name, const json& spec) {
  api_.createObject("/apis/platform.movies.dev/v1alpha1/namespaces/" + kNamespace + "/servicepolicies",
                    {{"apiVersion", "platform.movies.dev/v1alpha1"},
                     {"kind", "ServicePolicy"},
                     {"metadata", {{"name", name}}},
                     {"spec", spec}});
}

int OperatorHarness::replicas(const std::string& deployment) {
  auto object = api_.getObject("/apis/apps/v1/namespaces/" + kNamespace + "/deployments/" + deployment);
  return object ? (*object)["spec"].value("replicas", -1) : -1;
}

std::vector<std::string> OperatorHarness::podNames(const std::string& deployment) {
  std::vector<std::string> names;
  for (const json& pod : api_.listObjects("/api/v1/namespaces/" + kNamespace + "/pods")) {
    if (pod["metadata"]["labels"].value("app", "") == deployment) {
      names.push_back(pod["metadata"]["name"]);
    }
  }
  return names;
}

json OperatorHarness::policy(const std::string& name) {
  auto object = api_.getObject("/apis/platform.movies.dev/v1alpha1/namespaces/" + kNamespace +
                               "/servicepolicies/" + name);
  return object ? *object : json::object();
}

json OperatorHarness::condition(const std::string& policyName, const std::string& type) {
  return conditionOf(policy(policyName), type);
}

std::vector<json> OperatorHarness::events(const std::string& policyName, const std::string& reason) {
  std::vector<json> out;
  for (const json& event : api_.listObjects("/api/v1/namespaces/" + kNamespace + "/events")) {
    if (event["involvedObject"].value("name", "") == policyName && event.value("reason", "") == reason) {
      out.push_back(event);
    }
  }
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return std::stoll(a["metadata"]["resourceVersion"].get<std::string>()) <
           std::stoll(b["metadata"]["resourceVersion"].get<std::string>());
  });
  return out;
}

std::unique_ptr<ChildProcess> OperatorHarness::startOperator(const std::string& identity,
                                                             const std::vector<std::string>& extra) {
  const std::string binary = testBinary("MP_OPERATOR_BIN");
  std::vector<std::string> argv = {
      binary,     "--kubeconfig", kubeconfig_, "--prometheus-url", prometheus_->url(), "--namespace",
      kNamespace, "--identity",   identity};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<ChildProcess>(argv, dir_.path() + "/operator-" + identity + ".log");
}

}  // namespace mp::op::test
