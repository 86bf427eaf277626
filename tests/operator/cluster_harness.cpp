#include "cluster_harness.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "fake_kube_api.h"  // deploymentObject()

namespace mp::op::test {

using nlohmann::json;

namespace {

const std::string kServiceAccount = "platform-operator";
const std::string kPolicyGroup = "platform.movies.dev";

std::string clusterDir() {
  const char* dir = std::getenv("MP_CLUSTER_DIR");
  return dir == nullptr ? "" : dir;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value, or a runtime_error naming what failed: setup steps have no way to go on without it.
json required(const StatusOr<json>& result, const std::string& what) {
  if (!result.ok()) {
    throw std::runtime_error(what + ": HTTP " + std::to_string(result.status().httpStatus()) + " " +
                             result.status().message());
  }
  return result.value();
}

bool alreadyExists(const StatusOr<json>& result) {
  return !result.ok() && result.status().httpStatus() == 409;
}

// The ServicePolicy CRD from the chart, created when the cluster does not have it yet (the chart's
// tests may have installed the same file), and served.
void ensureCrd(KubeClient& admin) {
  const std::string collection = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
  json crd =
      loadYamlAsJson(sourcePath("charts/movie-platform/crds/servicepolicies.platform.movies.dev.yaml"));
  auto created = admin.create(collection, crd);
  if (!alreadyExists(created)) {
    required(created, "creating the ServicePolicy CRD");
  }
  const std::string name = crd["metadata"]["name"];
  bool established = waitFor(
      [&] {
        auto object = admin.get(collection + "/" + name);
        if (!object.ok()) {
          return false;
        }
        for (const json& c :
             object.value().value("status", json::object()).value("conditions", json::array())) {
          if (c.value("type", "") == "Established" && c.value("status", "") == "True") {
            return admin.get("/apis/" + kPolicyGroup + "/v1alpha1/servicepolicies").ok();
          }
        }
        return false;
      },
      std::chrono::seconds(30));
  if (!established) {
    throw std::runtime_error("the ServicePolicy CRD was not established within 30 s");
  }
}

}  // namespace

std::string clusterUnavailableReason() {
  const std::string dir = clusterDir();
  const std::string hint =
      " (scripts/test starts one; for ctest alone: MP_CLUSTER_DIR=/tmp/c scripts/cluster up, then run ctest "
      "with MP_CLUSTER_DIR=/tmp/c)";
  if (dir.empty()) {
    return "MP_CLUSTER_DIR is not set: these tests need the real API server of scripts/cluster" + hint;
  }
  std::string pidText = readFile(dir + "/run/kube-apiserver.pid");
  pid_t pid = static_cast<pid_t>(std::atol(pidText.c_str()));
  if (pid <= 0 || ::kill(pid, 0) != 0) {
    return "no kube-apiserver runs for MP_CLUSTER_DIR=" + dir + hint;
  }
  auto connection = loadKubeconfig(dir + "/kubeconfig", "");
  if (!connection.ok()) {
    return "unreadable " + dir + "/kubeconfig: " + connection.status().message();
  }
  KubeClient client(connection.value(), "operator-cluster-test");
  auto version = client.get("/version");
  if (!version.ok()) {
    return "the API server of " + dir + " does not answer: " + version.status().message();
  }
  return "";
}

ClusterHarness::ClusterHarness() : clusterDir_(clusterDir()) {
  std::string reason = clusterUnavailableReason();
  if (!reason.empty()) {
    throw std::runtime_error(reason);
  }
  auto connection = loadKubeconfig(clusterDir_ + "/kubeconfig", "");
  adminConnection_ = connection.value();
  admin_ = std::make_unique<KubeClient>(adminConnection_, "operator-cluster-test");
  ensureCrd(*admin_);
  json ns =
      required(admin_->create("/api/v1/namespaces", {{"apiVersion", "v1"},
                                                     {"kind", "Namespace"},
                                                     {"metadata", {{"generateName", "mp-operator-test-"}}}}),
               "creating a namespace");
  namespace_ = ns["metadata"]["name"];
  setUpRbac();
  // Pods are admitted only once the controller-manager has made the namespace's default ServiceAccount.
  if (!waitFor([&] { return admin_->get(path("", "serviceaccounts", "default")).ok(); },
               std::chrono::seconds(30))) {
    throw std::runtime_error("no default ServiceAccount in " + namespace_ + " after 30 s");
  }
  std::string data = dir_.path() + "/prometheus";
  std::filesystem::create_directories(data);
  prometheus_ = std::make_unique<PrometheusServer>(data, std::vector<std::string>{exporter_.address()});
}

ClusterHarness::~ClusterHarness() {
  if (prometheus_) {
    prometheus_->stop();
  }
  if (admin_ && !namespace_.empty()) {
    admin_->remove("/api/v1/namespaces/" + namespace_);  // the server finishes it in the background
  }
}

std::string ClusterHarness::operatorUser() const {
  return "system:serviceaccount:" + namespace_ + ":" + kServiceAccount;
}

std::string ClusterHarness::path(const std::string& group, const std::string& plural, const std::string& name,
                                 const std::string& subresource) const {
  std::string version = group == kPolicyGroup ? "v1alpha1" : group == "autoscaling" ? "v2" : "v1";
  return resourcePath(group, version, namespace_, plural, name, subresource);
}

void ClusterHarness::setUpRbac() {
  json rules = loadYamlAsJson(sourcePath("charts/movie-platform/files/operator-rbac-rules.yaml"));
  required(admin_->create(
               path("", "serviceaccounts"),
               {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", kServiceAccount}}}}),
           "creating the ServiceAccount");
  required(admin_->create(path("rbac.authorization.k8s.io", "roles"),
                          {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                           {"kind", "Role"},
                           {"metadata", {{"name", kServiceAccount}}},
                           {"rules", rules}}),
           "creating the Role");
  required(admin_->create(
               path("rbac.authorization.k8s.io", "rolebindings"),
               {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                {"kind", "RoleBinding"},
                {"metadata", {{"name", kServiceAccount}}},
                {"roleRef",
                 {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", kServiceAccount}}},
                {"subjects",
                 json::array(
                     {{{"kind", "ServiceAccount"}, {"name", kServiceAccount}, {"namespace", namespace_}}})}}),
           "creating the RoleBinding");
}

int ClusterHarness::apiServerPort() const {
  return std::atoi(adminConnection_.server.substr(adminConnection_.server.rfind(':') + 1).c_str());
}

std::string ClusterHarness::operatorKubeconfig(const std::string& identity) {
  json request = {{"apiVersion", "authentication.k8s.io/v1"},
                  {"kind", "TokenRequest"},
                  {"spec", {{"expirationSeconds", 3600}}}};
  json answer = required(admin_->create(path("", "serviceaccounts", kServiceAccount, "token"), request),
                         "requesting a token of the ServiceAccount");
  const std::string file = dir_.path() + "/" + identity + ".kubeconfig";
  std::ofstream out(file);
  out << "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: "
      << (operatorPort_ == 0 ? adminConnection_.server : "https://127.0.0.1:" + std::to_string(operatorPort_))
      << "\n    certificate-authority: " << clusterDir_ << "/pki/ca.crt\n"
      << "users:\n- name: operator\n  user:\n    token: " << answer["status"]["token"].get<std::string>()
      << "\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: operator\n    namespace: "
      << namespace_ << "\ncurrent-context: local\n";
  return file;
}

void ClusterHarness::createDeployment(const std::string& name, int replicas) {
  required(admin_->create(path("apps", "deployments"), deploymentObject(name, replicas)),
           "creating Deployment " + name);
}

StatusOr<json> ClusterHarness::createPolicy(const std::string& name, const json& spec) {
  return admin_->create(path(kPolicyGroup, "servicepolicies"), {{"apiVersion", kPolicyGroup + "/v1alpha1"},
                                                                {"kind", "ServicePolicy"},
                                                                {"metadata", {{"name", name}}},
                                                                {"spec", spec}});
}

void ClusterHarness::patchPolicySpec(const std::string& name, const json& specPatch) {
  required(admin_->mergePatch(path(kPolicyGroup, "servicepolicies", name), {{"spec", specPatch}}),
           "patching ServicePolicy " + name);
}

int ClusterHarness::replicas(const std::string& deployment) {
  auto object = admin_->get(path("apps", "deployments", deployment));
  return object.ok() ? object.value()["spec"].value("replicas", -1) : -1;
}

std::vector<std::string> ClusterHarness::livePodNames(const std::string& deployment) {
  std::vector<std::string> names;
  auto pods = admin_->get(path("", "pods") + "?labelSelector=app%3D" + deployment);
  if (!pods.ok()) {
    return names;
  }
  for (const json& pod : pods.value().value("items", json::array())) {
    if (!pod["metadata"].contains("deletionTimestamp")) {
      names.push_back(pod["metadata"]["name"]);
    }
  }
  return names;
}

bool ClusterHarness::podGoneOrTerminating(const std::string& pod) {
  auto object = admin_->get(path("", "pods", pod));
  if (!object.ok()) {
    return object.status().httpStatus() == 404;
  }
  return object.value()["metadata"].contains("deletionTimestamp");
}

json ClusterHarness::policy(const std::string& name) {
  auto object = admin_->get(path(kPolicyGroup, "servicepolicies", name));
  return object.ok() ? object.value() : json::object();
}

json ClusterHarness::condition(const std::string& policyName, const std::string& type) {
  return conditionOf(policy(policyName), type);
}

std::vector<json> ClusterHarness::events(const std::string& policyName,
                                         const std::vector<std::string>& reasons) {
  std::vector<json> out;
  auto list = admin_->get(path("", "events"));
  if (!list.ok()) {
    return out;
  }
  for (const json& event : list.value().value("items", json::array())) {
    const std::string reason = event.value("reason", "");
    if (event["involvedObject"].value("name", "") == policyName &&
        std::find(reasons.begin(), reasons.end(), reason) != reasons.end()) {
      out.push_back(event);
    }
  }
  // resourceVersions are etcd revisions here: numbers that grow with every write.
  std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
    return std::stoll(a["metadata"]["resourceVersion"].get<std::string>()) <
           std::stoll(b["metadata"]["resourceVersion"].get<std::string>());
  });
  return out;
}

std::string ClusterHarness::leaseHolder() {
  auto lease = admin_->get(path("coordination.k8s.io", "leases", "platform-operator"));
  return lease.ok() ? lease.value()["spec"].value("holderIdentity", "") : "";
}

std::vector<json> ClusterHarness::operatorRequests(bool reads) {
  static const std::set<std::string> readVerbs = {"get", "list", "watch"};
  std::vector<json> out;
  std::ifstream in(clusterDir_ + "/logs/audit.log");
  std::string line;
  const std::string user = operatorUser();
  while (std::getline(in, line)) {
    if (line.find(user) == std::string::npos) {
      continue;  // cheap pre-filter: the log holds every component's writes
    }
    json record = json::parse(line, nullptr, false);
    if (record.is_discarded()) {
      continue;
    }
    const std::string verb = record.value("verb", "");
    const std::string stage = record.value("stage", "");
    const bool read = readVerbs.count(verb) > 0;
    const bool complete = stage == "ResponseComplete" || (verb == "watch" && stage == "ResponseStarted");
    if ((read && !reads) || !complete || record.value("user", json::object()).value("username", "") != user ||
        record.value("objectRef", json::object()).value("namespace", "") != namespace_) {
      continue;
    }
    out.push_back(record);
  }
  return out;
}

std::unique_ptr<ChildProcess> ClusterHarness::startOperator(const std::string& identity,
                                                            const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {testBinary("MP_OPERATOR_BIN"),
                                   "--kubeconfig",
                                   operatorKubeconfig(identity),
                                   "--prometheus-url",
                                   prometheus_->url(),
                                   "--namespace",
                                   namespace_,
                                   "--identity",
                                   identity};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<ChildProcess>(argv, dir_.path() + "/operator-" + identity + ".log");
}

std::string identityOf(const json& auditRecord) {
  const std::string agent = auditRecord.value("userAgent", "");
  auto open = agent.find('(');
  auto close = agent.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return "";
  }
  return agent.substr(open + 1, close - open - 1);
}

}  // namespace mp::op::test
