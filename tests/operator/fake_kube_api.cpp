#include "fake_kube_api.h"

#include <chrono>
#include <fstream>
#include <thread>

#include "runtime/time_format.h"

namespace mp::op::test {
namespace {

using nlohmann::json;

struct KindInfo {
  const char* group;
  const char* version;
  const char* plural;
  const char* kind;
  bool namespaced;
  bool statusSubresource;
  bool scaleSubresource;
};

const std::vector<KindInfo> kKinds = {
    {"", "v1", "pods", "Pod", true, true, false},
    {"", "v1", "events", "Event", true, false, false},
    {"", "v1", "namespaces", "Namespace", false, true, false},
    {"apps", "v1", "deployments", "Deployment", true, true, true},
    {"coordination.k8s.io", "v1", "leases", "Lease", true, false, false},
    {"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, true, false},
    {"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, true, false},
    {"platform.movies.dev", "v1alpha1", "servicepolicies", "ServicePolicy", true, true, false},
};

const KindInfo* findKind(const std::string& group, const std::string& version, const std::string& plural) {
  for (const KindInfo& k : kKinds) {
    if (group == k.group && version == k.version && plural == k.plural) {
      return &k;
    }
  }
  return nullptr;
}

std::string nowText() {
  return formatRfc3339(WallClock::now());
}

// Equality-based selectors: "a=b,c==d,e!=f".
bool matchesSelector(const json& object, const std::string& selector) {
  const json labels = object.value("metadata", json::object()).value("labels", json::object());
  std::size_t start = 0;
  while (start < selector.size()) {
    std::size_t comma = selector.find(',', start);
    std::string term = selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? selector.size() : comma + 1;
    bool negate = false;
    std::size_t op = term.find("!=");
    std::size_t valueAt = op + 2;
    if (op != std::string::npos) {
      negate = true;
    } else if ((op = term.find("==")) != std::string::npos) {
      valueAt = op + 2;
    } else if ((op = term.find('=')) != std::string::npos) {
      valueAt = op + 1;
    } else {
      bool has = labels.contains(term);
      if (!has) {
        return false;
      }
      continue;
    }
    std::string key = term.substr(0, op);
    std::string value = term.substr(valueAt);
    bool equal =
        labels.contains(key) && labels.at(key).is_string() && labels.at(key).get<std::string>() == value;
    if (equal == negate) {
      return false;
    }
  }
  return true;
}

bool podIsReady(const json& pod) {
  for (const json& c : pod.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == "Ready" && c.value("status", "") == "True") {
      return true;
    }
  }
  return false;
}

bool matchLabelsSelect(const json& matchLabels, const json& object) {
  const json labels = object.value("metadata", json::object()).value("labels", json::object());
  for (const auto& [k, v] : matchLabels.items()) {
    if (!labels.contains(k) || labels.at(k) != v) {
      return false;
    }
  }
  return true;
}

json resourceList(const std::string& groupVersion, const json& resources) {
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", groupVersion},
          {"resources", resources}};
}

json resource(const std::string& name, const std::string& kind, bool namespaced, const json& verbs,
              const std::string& group = "", const std::string& version = "") {
  json r = {
      {"name", name}, {"singularName", ""}, {"namespaced", namespaced}, {"kind", kind}, {"verbs", verbs}};
  if (!group.empty()) {
    r["group"] = group;
    r["version"] = version;
  }
  return r;
}

const json kAllVerbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};

}  // namespace

json statusObject(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

json deploymentObject(const std::string& name, int replicas) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "app:1"}}})}}}}}}}};
}

FakeKubeApi::FakeKubeApi() : server_([this](HttpExchange& exchange) { handle(exchange); }) {}

FakeKubeApi::~FakeKubeApi() {
  server_.stop();
}

std::string FakeKubeApi::writeKubeconfig(const std::string& directory, const std::string& context) const {
  std::string path = directory + "/kubeconfig";
  std::ofstream out(path);
  out << "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " << url()
      << "\nusers:\n- name: tester\n  user:\n    token: test-token\ncontexts:\n- name: " << context
      << "\n  context:\n    cluster: fake\n    user: tester\n    namespace: default\ncurrent-context: "
      << context << "\n";
  return path;
}

FakeKubeApi::Route FakeKubeApi::parse(const std::string& path) const {
  Route route;
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) {
      break;
    }
    start = slash + 1;
  }
  std::size_t i = 0;
  if (parts.size() >= 2 && parts[0] == "api") {
    route.version = parts[1];
    i = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    route.group = parts[1];
    route.version = parts[2];
    i = 3;
  } else {
    return route;
  }
  if (i + 2 < parts.size() && parts[i] == "namespaces") {
    route.namespaceName = parts[i + 1];
    i += 2;
  }
  if (i >= parts.size() || parts[i].empty()) {
    return route;
  }
  route.plural = parts[i++];
  if (i < parts.size()) {
    route.name = parts[i++];
  }
  if (i < parts.size()) {
    route.subresource = parts[i++];
  }
  route.valid = i == parts.size() && findKind(route.group, route.version, route.plural) != nullptr;
  return route;
}

std::string FakeKubeApi::keyOf(const Route& route, const std::string& name) const {
  return route.group + "/" + route.plural + "/" + route.namespaceName + "/" + name;
}

json FakeKubeApi::stampAndStore(const Route& route, json object, const std::string& type) {
  int64_t rv = ++resourceVersion_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  const std::string name = object["metadata"]["name"];
  objects_[keyOf(route, name)] = object;
  history_.push_back({rv, route.group + "/" + route.plural, route.namespaceName, type, object});
  changed_.notify_all();
  return object;
}

void FakeKubeApi::removeLocked(const Route& route, const std::string& name) {
  auto found = objects_.find(keyOf(route, name));
  if (found == objects_.end()) {
    return;
  }
  json object = found->second;
  objects_.erase(found);
  int64_t rv = ++resourceVersion_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  history_.push_back({rv, route.group + "/" + route.plural, route.namespaceName, "DELETED", object});
  changed_.notify_all();
}

json FakeKubeApi::scaleOf(const json& deployment) const {
  std::string selector;
  const json matchLabels = deployment["spec"]["selector"].value("matchLabels", json::object());
  for (const auto& [key, value] : matchLabels.items()) {
    selector += (selector.empty() ? "" : ",") + key + "=" + value.get<std::string>();
  }
  const json& meta = deployment["metadata"];
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata",
           {{"name", meta["name"]},
            {"namespace", meta["namespace"]},
            {"uid", meta["uid"]},
            {"resourceVersion", meta["resourceVersion"]},
            {"creationTimestamp", meta["creationTimestamp"]}}},
          {"spec", {{"replicas", deployment["spec"].value("replicas", 1)}}},
          {"status",
           {{"replicas", deployment.value("status", json::object()).value("replicas", 0)},
            {"selector", selector}}}};
}

void FakeKubeApi::syncDeploymentLocked(const std::string& namespaceName, const std::string& name) {
  Route deployments{"apps", "v1", namespaceName, "deployments", "", "", true};
  Route pods{"", "v1", namespaceName, "pods", "", "", true};
  auto found = objects_.find(keyOf(deployments, name));
  if (found == objects_.end()) {
    return;
  }
  json deployment = found->second;
  const int64_t replicas = deployment["spec"].value("replicas", int64_t{1});
  json matchLabels = deployment["spec"]["selector"].value("matchLabels", json::object());
  json podLabels = deployment["spec"]
                       .value("template", json::object())
                       .value("metadata", json::object())
                       .value("labels", matchLabels);
  auto livePods = [&] {
    std::vector<json> live;
    const std::string prefix = "/pods/" + namespaceName + "/";
    for (const auto& [key, object] : objects_) {
      if (key.rfind(prefix, 0) != 0 || object["metadata"].contains("deletionTimestamp")) {
        continue;
      }
      bool matches = true;
      for (const auto& [k, v] : matchLabels.items()) {
        matches = matches && object["metadata"].value("labels", json::object()).value(k, "") == v;
      }
      if (matches) {
        live.push_back(object);
      }
    }
    return live;
  };
  std::vector<json> live = livePods();
  // The ReplicaSet controller: create the missing pods, delete the newest extra ones.
  for (int64_t i = static_cast<int64_t>(live.size()); i < replicas; ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), "%05lld", static_cast<long long>(++podCounter_));
    json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata",
         {{"name", name + "-" + suffix},
          {"namespace", namespaceName},
          {"uid", "pod-uid-" + std::to_string(++uidCounter_)},
          {"labels", podLabels},
          {"creationTimestamp", nowText()}}},
        {"spec", {{"containers", {{{"name", "app"}, {"image", "registry.example/app:1"}}}}}},
        {"status", {{"phase", "Running"}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
    stampAndStore(pods, pod, "ADDED");
  }
  for (int64_t i = replicas; i < static_cast<int64_t>(live.size()); ++i) {
    removeLocked(pods, live[live.size() - 1 - static_cast<std::size_t>(i - replicas)]["metadata"]["name"]);
  }
  live = livePods();
  int64_t ready = 0;
  for (const json& pod : live) {
    const json conditions = pod["status"].value("conditions", json::array());
    for (const json& c : conditions) {
      if (c.value("type", "") == "Ready" && c.value("status", "") == "True") {
        ++ready;
      }
    }
  }
  const std::string id = namespaceName + "/" + name;
  json progressing = {{"type", "Progressing"}, {"status", "True"}, {"reason", "NewReplicaSetAvailable"}};
  if (pastDeadline_.count(id) != 0) {
    progressing = {{"type", "Progressing"},
                   {"status", "False"},
                   {"reason", "ProgressDeadlineExceeded"},
                   {"message", "ReplicaSet \"" + name + "-5d8f\" has timed out progressing."}};
  } else if (rollingOut_.count(id) != 0) {
    progressing["reason"] = "ReplicaSetUpdated";
  }
  json status = {{"observedGeneration", deployment["metadata"].value("generation", int64_t{1})},
                 {"replicas", static_cast<int64_t>(live.size())},
                 {"updatedReplicas", static_cast<int64_t>(live.size()) -
                                         (rollingOut_.count(namespaceName + "/" + name) != 0 ? 1 : 0)},
                 {"readyReplicas", ready},
                 {"availableReplicas", ready},
                 {"conditions", json::array({progressing})}};
  if (deployment.value("status", json::object()) != status) {
    deployment["status"] = status;
    stampAndStore(deployments, deployment, "MODIFIED");
  }
}

void FakeKubeApi::syncAllDeploymentsLocked() {
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& [key, object] : objects_) {
    if (key.rfind("apps/deployments/", 0) == 0) {
      names.emplace_back(object["metadata"].value("namespace", ""), object["metadata"].value("name", ""));
    }
  }
  for (const auto& [ns, name] : names) {
    syncDeploymentLocked(ns, name);
  }
}

json FakeKubeApi::apply(const std::string& method, const Route& route, const TestRequest& request,
                        int& status) {
  const KindInfo* kind = findKind(route.group, route.version, route.plural);
  const std::string apiVersion = route.group.empty() ? route.version : route.group + "/" + route.version;
  const bool core = route.group.empty() || route.group == "apps";
  status = 200;
  auto fail = [&](int code, const std::string& reason, const std::string& message) {
    status = code;
    return statusObject(code, reason, message);
  };
  if (route.plural == "pods" && route.subresource == "eviction" && !route.name.empty()) {
    if (method != "POST") {
      return fail(405, "MethodNotAllowed", method + " is not supported on pods/eviction");
    }
    return evictLocked(route, request, status);
  }
  if ((!route.subresource.empty()) && !((route.subresource == "status" && kind->statusSubresource) ||
                                        (route.subresource == "scale" && kind->scaleSubresource))) {
    return fail(404, "NotFound", "the server could not find the requested resource");
  }
  if (route.name.empty()) {
    if (method == "GET") {
      json items = json::array();
      std::string selector = request.query.count("labelSelector") ? request.query.at("labelSelector") : "";
      std::string prefix = route.group + "/" + route.plural + "/";
      for (const auto& [key, object] : objects_) {
        if (key.rfind(prefix, 0) != 0) {
          continue;
        }
        if (!route.namespaceName.empty() &&
            object["metadata"].value("namespace", "") != route.namespaceName) {
          continue;
        }
        if (matchesSelector(object, selector)) {
          items.push_back(object);
        }
      }
      return {{"kind", std::string(kind->kind) + "List"},
              {"apiVersion", apiVersion},
              {"metadata", {{"resourceVersion", std::to_string(resourceVersion_)}}},
              {"items", items}};
    }
    if (method != "POST") {
      return fail(405, "MethodNotAllowed", method + " is not supported on a collection here");
    }
    json object = json::parse(request.body, nullptr, false);
    if (!object.is_object()) {
      return fail(400, "BadRequest", "the body is not a JSON object");
    }
    json& meta = object["metadata"];
    if (!meta.is_object()) {
      meta = json::object();
    }
    if (meta.value("name", "").empty() && !meta.value("generateName", "").empty()) {
      meta["name"] = meta["generateName"].get<std::string>() + std::to_string(++uidCounter_);
    }
    const std::string name = meta.value("name", "");
    if (name.empty()) {
      return fail(422, "Invalid", "metadata.name: Required value");
    }
    if (objects_.count(keyOf(route, name)) != 0) {
      return fail(409, "AlreadyExists", std::string(kind->plural) + " \"" + name + "\" already exists");
    }
    if (kind->namespaced) {
      meta["namespace"] = route.namespaceName;
    }
    meta["uid"] = "uid-" + std::to_string(++uidCounter_);
    meta["creationTimestamp"] = nowText();
    if (object.contains("spec")) {
      meta["generation"] = 1;
    }
    object["apiVersion"] = apiVersion;
    object["kind"] = kind->kind;
    status = 201;
    json stored = stampAndStore(route, object, "ADDED");
    if (route.plural == "deployments") {
      syncDeploymentLocked(route.namespaceName, name);
      stored = objects_[keyOf(route, name)];
    }
    return stored;
  }

  auto found = objects_.find(keyOf(route, route.name));
  if (found == objects_.end()) {
    return fail(
        404, "NotFound",
        std::string(kind->plural) + (core ? "" : "." + route.group) + " \"" + route.name + "\" not found");
  }
  const json current = found->second;
  if (method == "GET") {
    return route.subresource == "scale" ? scaleOf(current) : current;
  }
  if (method == "DELETE") {
    removeLocked(route, route.name);
    if (route.plural == "pods" || route.plural == "deployments") {
      syncAllDeploymentsLocked();
    }
    return current;
  }
  json body;
  if (method == "PUT") {
    body = json::parse(request.body, nullptr, false);
  } else if (method == "PATCH") {
    std::string type = request.headers.count("content-type") ? request.headers.at("content-type") : "";
    if (type.find("merge-patch+json") == std::string::npos) {
      return fail(415, "UnsupportedMediaType",
                  "only merge patches are supported by this test double: " + type);
    }
    json patch = json::parse(request.body, nullptr, false);
    if (!patch.is_object()) {
      return fail(400, "BadRequest", "the patch is not a JSON object");
    }
    body = route.subresource == "scale" ? scaleOf(current) : current;
    body.merge_patch(patch);
  } else {
    return fail(405, "MethodNotAllowed", method + " is not supported here");
  }
  if (!body.is_object()) {
    return fail(400, "BadRequest", "the body is not a JSON object");
  }
  const std::string sentVersion = body.value("metadata", json::object()).value("resourceVersion", "");
  const std::string currentVersion = current["metadata"]["resourceVersion"];
  if (!sentVersion.empty() && sentVersion != currentVersion) {
    return fail(409, "Conflict",
                "Operation cannot be fulfilled on " + std::string(kind->plural) + " \"" + route.name +
                    "\": the object has been modified; please apply your changes to the latest version and "
                    "try again");
  }
  json next = current;
  if (route.subresource == "status") {
    next["status"] = body.value("status", json::object());
  } else if (route.subresource == "scale") {
    if (!body.contains("spec") || !body["spec"].contains("replicas") ||
        !body["spec"]["replicas"].is_number_integer() || body["spec"]["replicas"].get<int64_t>() < 0) {
      return fail(422, "Invalid", "spec.replicas: Invalid value");
    }
    next["spec"]["replicas"] = body["spec"]["replicas"];
  } else {
    next = body;
    json& meta = next["metadata"];
    for (const char* keep : {"uid", "creationTimestamp", "generation", "namespace", "name"}) {
      if (current["metadata"].contains(keep)) {
        meta[keep] = current["metadata"][keep];
      }
    }
    next["apiVersion"] = apiVersion;
    next["kind"] = kind->kind;
    if (kind->statusSubresource) {
      if (current.contains("status")) {
        next["status"] = current["status"];
      } else {
        next.erase("status");
      }
    }
  }
  if (next.value("spec", json()) != current.value("spec", json()) &&
      current["metadata"].contains("generation")) {
    next["metadata"]["generation"] = current["metadata"]["generation"].get<int64_t>() + 1;
  }
  if (next == current) {
    return route.subresource == "scale" ? scaleOf(current) : current;  // a no-op write keeps resourceVersion
  }
  json stored = stampAndStore(route, next, "MODIFIED");
  if (route.plural == "deployments" || route.plural == "pods") {
    syncAllDeploymentsLocked();
    stored = objects_[keyOf(route, route.name)];
  }
  return route.subresource == "scale" ? scaleOf(stored) : stored;
}

json FakeKubeApi::evictLocked(const Route& route, const TestRequest& request, int& status) {
  auto fail = [&](int code, const std::string& reason, const std::string& message, json causes = nullptr) {
    status = code;
    json body = statusObject(code, reason, message);
    if (!causes.is_null()) {
      body["details"] = {{"name", route.name}, {"kind", "pods"}, {"causes", causes}};
    }
    return body;
  };
  json eviction = json::parse(request.body, nullptr, false);
  if (!eviction.is_object() || eviction.value("apiVersion", "") != "policy/v1" ||
      eviction.value("kind", "") != "Eviction") {
    return fail(400, "BadRequest", "the body is not a policy/v1 Eviction");
  }
  if (eviction.value("metadata", json::object()).value("name", "") != route.name) {
    return fail(400, "BadRequest", "name in URL does not match name in Eviction object");
  }
  auto found = objects_.find(keyOf(route, route.name));
  if (found == objects_.end()) {
    return fail(404, "NotFound", "pods \"" + route.name + "\" not found");
  }
  const json pod = found->second;
  // The disruption controller's arithmetic for the one budget that selects the pod (more than one is a
  // 500, as in the real API server). An unready pod may go while the budget is met (IfHealthyBudget).
  std::vector<json> budgets;
  for (const auto& [key, object] : objects_) {
    if (key.rfind("policy/poddisruptionbudgets/" + route.namespaceName + "/", 0) == 0 &&
        matchLabelsSelect(object["spec"]["selector"].value("matchLabels", json::object()), pod)) {
      budgets.push_back(object);
    }
  }
  if (budgets.size() > 1) {
    return fail(
        500, "InternalError",
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.");
  }
  if (budgets.size() == 1) {
    const json& budget = budgets[0];
    const json matchLabels = budget["spec"]["selector"].value("matchLabels", json::object());
    int64_t expected = 0;
    int64_t healthy = 0;
    const std::string prefix = "/pods/" + route.namespaceName + "/";
    for (const auto& [key, object] : objects_) {
      if (key.rfind(prefix, 0) == 0 && matchLabelsSelect(matchLabels, object)) {
        ++expected;
        healthy += podIsReady(object) ? 1 : 0;
      }
    }
    int64_t desired = budget["spec"].contains("minAvailable")
                          ? budget["spec"]["minAvailable"].get<int64_t>()
                          : expected - budget["spec"].value("maxUnavailable", int64_t{0});
    bool allowed = podIsReady(pod) ? healthy - 1 >= desired : healthy >= desired;
    if (!allowed) {
      const std::string name = budget["metadata"]["name"];
      return fail(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                  json::array({{{"reason", "DisruptionBudget"},
                                {"message", "The disruption budget " + name + " needs " +
                                                std::to_string(desired) + " healthy pods and has " +
                                                std::to_string(healthy) + " currently"}}}));
    }
  }
  removeLocked(route, route.name);
  syncAllDeploymentsLocked();
  ++evictions_;
  status = 201;
  json success = statusObject(201, "", "");
  success["status"] = "Success";
  success.erase("reason");
  success.erase("message");
  return success;
}

bool FakeKubeApi::discovery(HttpExchange& exchange) {
  const std::string& path = exchange.request().path;
  json body;
  if (path == "/version") {
    body = {{"major", "1"},          {"minor", "32"},           {"gitVersion", "v1.32.0"},
            {"gitCommit", "fake"},   {"gitTreeState", "clean"}, {"buildDate", "2026-01-01T00:00:00Z"},
            {"goVersion", "go1.23"}, {"compiler", "gc"},        {"platform", "linux/amd64"}};
  } else if (path == "/api") {
    body = {{"kind", "APIVersions"},
            {"versions", json::array({"v1"})},
            {"serverAddressByClientCIDRs", {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1"}}}}};
  } else if (path == "/apis") {
    json groups = json::array();
    for (const auto& [group, version] : {std::pair{"apps", "v1"}, std::pair{"coordination.k8s.io", "v1"},
                                         std::pair{"platform.movies.dev", "v1alpha1"},
                                         std::pair{"autoscaling", "v2"}, std::pair{"policy", "v1"}}) {
      json gv = {{"groupVersion", std::string(group) + "/" + version}, {"version", version}};
      groups.push_back({{"name", group}, {"versions", json::array({gv})}, {"preferredVersion", gv}});
    }
    body = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
  } else if (path == "/api/v1") {
    body = resourceList("v1", {resource("pods", "Pod", true, kAllVerbs),
                               resource("pods/status", "Pod", true, {"get", "patch", "update"}),
                               resource("pods/eviction", "Eviction", true, {"create"}, "policy", "v1"),
                               resource("events", "Event", true, kAllVerbs),
                               resource("namespaces", "Namespace", false,
                                        {"create", "delete", "get", "list", "patch", "update", "watch"})});
  } else if (path == "/apis/apps/v1") {
    body = resourceList(
        "apps/v1",
        {resource("deployments", "Deployment", true, kAllVerbs),
         resource("deployments/scale", "Scale", true, {"get", "patch", "update"}, "autoscaling", "v1"),
         resource("deployments/status", "Deployment", true, {"get", "patch", "update"})});
  } else if (path == "/apis/autoscaling/v2") {
    body = resourceList("autoscaling/v2",
                        {resource("horizontalpodautoscalers", "HorizontalPodAutoscaler", true, kAllVerbs),
                         resource("horizontalpodautoscalers/status", "HorizontalPodAutoscaler", true,
                                  {"get", "patch", "update"})});
  } else if (path == "/apis/policy/v1") {
    body = resourceList(
        "policy/v1",
        {resource("poddisruptionbudgets", "PodDisruptionBudget", true, kAllVerbs),
         resource("poddisruptionbudgets/status", "PodDisruptionBudget", true, {"get", "patch", "update"})});
  } else if (path == "/apis/coordination.k8s.io/v1") {
    body =
        resourceList("coordination.k8s.io/v1", json::array({resource("leases", "Lease", true, kAllVerbs)}));
  } else if (path == "/apis/platform.movies.dev/v1alpha1") {
    body =
        resourceList("platform.movies.dev/v1alpha1",
                     {resource("servicepolicies", "ServicePolicy", true, kAllVerbs),
                      resource("servicepolicies/status", "ServicePolicy", true, {"get", "patch", "update"})});
  } else {
    return false;
  }
  exchange.respond(200, body.dump());
  return true;
}

void FakeKubeApi::handle(HttpExchange& exchange) {
  const TestRequest& request = exchange.request();
  Route route = parse(request.path);
  if (route.valid) {
    std::string verb;
    const bool watching = request.query.count("watch") != 0 &&
                          (request.query.at("watch") == "1" || request.query.at("watch") == "true");
    if (request.method == "GET") {
      verb = !route.name.empty() ? "get" : watching ? "watch" : "list";
    } else if (request.method == "POST") {
      verb = "create";
    } else if (request.method == "PUT") {
      verb = "update";
    } else if (request.method == "PATCH") {
      verb = "patch";
    } else if (request.method == "DELETE") {
      verb = "delete";
    }
    std::string agent = request.headers.count("user-agent") ? request.headers.at("user-agent") : "";
    {
      std::lock_guard<std::mutex> lock(mutex_);
      usage_[agent].insert(
          {verb, route.group, route.plural + (route.subresource.empty() ? "" : "/" + route.subresource)});
      if (request.method != "GET") {
        ++writes_[agent];
      }
    }
    if (watching && route.name.empty() && request.method == "GET") {
      watch(exchange, route);
      return;
    }
    int status = 200;
    json body;
    std::chrono::milliseconds delay{0};
    Timing timing{request.method, request.path, agent, std::chrono::steady_clock::now(), {}, false};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body = apply(request.method, route, request, status);
      for (const auto& [method, suffix, held] : delays_) {
        if (method == request.method && request.path.size() >= suffix.size() &&
            request.path.compare(request.path.size() - suffix.size(), suffix.size(), suffix) == 0) {
          delay = held;
        }
      }
    }
    if (delay.count() > 0) {
      auto until = timing.arrived + delay;
      while (std::chrono::steady_clock::now() < until && !exchange.clientGone() &&
             !exchange.serverStopping()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      timing.clientGaveUp = exchange.clientGone();
    }
    if (!timing.clientGaveUp) {
      exchange.respond(status, body.dump());
    }
    if (delay.count() > 0) {
      timing.ended = std::chrono::steady_clock::now();
      std::lock_guard<std::mutex> lock(mutex_);
      timings_.push_back(timing);
    }
    return;
  }
  if (request.method == "GET" && discovery(exchange)) {
    return;
  }
  exchange.respond(404,
                   statusObject(404, "NotFound", "the server could not find the requested resource").dump());
}

void FakeKubeApi::watch(HttpExchange& exchange, const Route& route) {
  const TestRequest& request = exchange.request();
  const std::string collection = route.group + "/" + route.plural;
  auto matches = [&](const WatchEvent& e) {
    return e.collection == collection &&
           (route.namespaceName.empty() || e.namespaceName == route.namespaceName);
  };
  auto line = [](const std::string& type, const json& object) {
    return json{{"type", type}, {"object", object}}.dump() + "\n";
  };
  int timeout = 1800;
  if (request.query.count("timeoutSeconds") != 0) {
    timeout = std::stoi(request.query.at("timeoutSeconds"));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  std::string from = request.query.count("resourceVersion") ? request.query.at("resourceVersion") : "";
  std::vector<std::string> pending;
  int64_t sent = 0;
  int64_t epoch = 0;
  bool expired = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    epoch = expiryEpoch_;
    if (from.empty() || from == "0") {
      const std::string prefix = collection + "/";
      for (const auto& [key, object] : objects_) {
        if (key.rfind(prefix, 0) == 0 && (route.namespaceName.empty() ||
                                          object["metadata"].value("namespace", "") == route.namespaceName)) {
          pending.push_back(line("ADDED", object));
        }
      }
      sent = resourceVersion_;
    } else {
      sent = std::stoll(from);
      if (sent < oldestWatchable_) {
        expired = true;
      } else {
        for (const WatchEvent& e : history_) {
          if (e.resourceVersion > sent && matches(e)) {
            pending.push_back(line(e.type, e.object));
          }
        }
        sent = resourceVersion_;
      }
    }
  }
  exchange.beginStream(200, "application/json");
  const std::string expiredLine =
      line("ERROR", statusObject(410, "Expired", "too old resource version: " + from));
  while (true) {
    if (expired) {
      exchange.sendChunk(expiredLine);
      return;
    }
    for (const std::string& l : pending) {
      if (!exchange.sendChunk(l)) {
        return;
      }
    }
    pending.clear();
    if (exchange.serverStopping() || exchange.clientGone() || std::chrono::steady_clock::now() >= deadline) {
      return;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(200));
    if (expiryEpoch_ != epoch) {
      expired = true;
      continue;
    }
    for (auto it = history_.rbegin(); it != history_.rend() && it->resourceVersion > sent; ++it) {
      if (matches(*it)) {
        pending.insert(pending.begin(), line(it->type, it->object));
      }
    }
    sent = resourceVersion_;
  }
}

json FakeKubeApi::createObject(const std::string& collectionPath, json object) {
  TestRequest request;
  request.method = "POST";
  request.body = object.dump();
  int status = 0;
  std::lock_guard<std::mutex> lock(mutex_);
  json result = apply("POST", parse(collectionPath), request, status);
  if (status >= 300) {
    throw std::runtime_error("createObject " + collectionPath + ": " + result.dump());
  }
  return result;
}

std::optional<json> FakeKubeApi::getObject(const std::string& objectPath) const {
  Route route = parse(objectPath);
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = objects_.find(keyOf(route, route.name));
  if (found == objects_.end()) {
    return std::nullopt;
  }
  return found->second;
}

json FakeKubeApi::listObjects(const std::string& collectionPath) const {
  Route route = parse(collectionPath);
  json items = json::array();
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string prefix = route.group + "/" + route.plural + "/";
  for (const auto& [key, object] : objects_) {
    if (key.rfind(prefix, 0) == 0 &&
        (route.namespaceName.empty() || object["metadata"].value("namespace", "") == route.namespaceName)) {
      items.push_back(object);
    }
  }
  return items;
}

void FakeKubeApi::updateObject(const std::string& objectPath, const std::function<void(json&)>& change) {
  Route route = parse(objectPath);
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = objects_.find(keyOf(route, route.name));
  if (found == objects_.end()) {
    throw std::runtime_error("updateObject: no " + objectPath);
  }
  json object = found->second;
  json before = object;
  change(object);
  if (object.value("spec", json()) != before.value("spec", json()) &&
      object["metadata"].contains("generation")) {
    object["metadata"]["generation"] = before["metadata"]["generation"].get<int64_t>() + 1;
  }
  stampAndStore(route, object, "MODIFIED");
  syncAllDeploymentsLocked();
}

void FakeKubeApi::setPodReady(const std::string& namespaceName, const std::string& pod, bool ready) {
  updateObject("/api/v1/namespaces/" + namespaceName + "/pods/" + pod, [ready](json& object) {
    object["status"]["conditions"] = {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}};
  });
}

void FakeKubeApi::holdRollout(const std::string& namespaceName, const std::string& deployment, bool held) {
  markDeployment(rollingOut_, namespaceName, deployment, held);
}

void FakeKubeApi::exceedProgressDeadline(const std::string& namespaceName, const std::string& deployment,
                                         bool exceeded) {
  markDeployment(pastDeadline_, namespaceName, deployment, exceeded);
}

void FakeKubeApi::markDeployment(std::set<std::string>& marks, const std::string& namespaceName,
                                 const std::string& deployment, bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (on) {
    marks.insert(namespaceName + "/" + deployment);
  } else {
    marks.erase(namespaceName + "/" + deployment);
  }
  syncDeploymentLocked(namespaceName, deployment);
}

void FakeKubeApi::deleteObject(const std::string& objectPath) {
  Route route = parse(objectPath);
  std::lock_guard<std::mutex> lock(mutex_);
  removeLocked(route, route.name);
  syncAllDeploymentsLocked();
}

void FakeKubeApi::delayAnswers(const std::string& method, const std::string& pathSuffix,
                               std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  delays_.emplace_back(method, pathSuffix, delay);
}

std::vector<FakeKubeApi::Timing> FakeKubeApi::timings() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return timings_;
}

void FakeKubeApi::expireWatches() {
  std::lock_guard<std::mutex> lock(mutex_);
  oldestWatchable_ = resourceVersion_ + 1;
  ++expiryEpoch_;
  changed_.notify_all();
}

std::set<ApiUsage> FakeKubeApi::usage(const std::string& agentPrefix) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::set<ApiUsage> out;
  for (const auto& [agent, used] : usage_) {
    if (agent.rfind(agentPrefix, 0) == 0) {
      out.insert(used.begin(), used.end());
    }
  }
  return out;
}

int FakeKubeApi::evictions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return evictions_;
}

int FakeKubeApi::writeCount(const std::string& agentPrefix) const {
  std::lock_guard<std::mutex> lock(mutex_);
  int total = 0;
  for (const auto& [agent, count] : writes_) {
    if (agent.rfind(agentPrefix, 0) == 0) {
      total += count;
    }
  }
  return total;
}

}  // namespace mp::op::test
