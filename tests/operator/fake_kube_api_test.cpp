// The Kubernetes API test double must speak the real API: checked with the operator's own client and
// with the real kubectl.
#include "fake_kube_api.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "client/kube_client.h"
#include "test_support.h"

namespace mp::op::test {
namespace {

using nlohmann::json;

class FakeKubeApiTest : public ::testing::Test {
 protected:
  FakeKubeApiTest() : client_(KubeConnection{api_.url(), {}, "t", "", ""}, "test-client") {}
  FakeKubeApi api_;
  KubeClient client_;
  const std::string deployments_ = "/apis/apps/v1/namespaces/default/deployments";
};

TEST_F(FakeKubeApiTest, DeploymentsGetPodsAndStatus) {
  ASSERT_TRUE(client_.create(deployments_, deploymentObject("web", 2)).ok());
  auto pods = client_.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb");
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(pods.value()["items"].size(), 2u);
  auto web = client_.get(deployments_ + "/web");
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(web.value()["status"]["readyReplicas"], 2);
  EXPECT_EQ(web.value()["metadata"]["generation"], 1);
  auto none = client_.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dother");
  EXPECT_TRUE(none.value()["items"].empty());
}

TEST_F(FakeKubeApiTest, FollowsTheWriteConventions) {
  json created = client_.create(deployments_, deploymentObject("web", 1)).value();
  auto duplicate = client_.create(deployments_, deploymentObject("web", 1));
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().httpStatus(), 409);
  EXPECT_EQ(duplicate.status().reason(), "AlreadyExists");
  auto missing = client_.get(deployments_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().httpStatus(), 404);
  EXPECT_EQ(missing.status().reason(), "NotFound");

  // Status-only change: generation stays; spec change: generation moves; stale write: 409 Conflict.
  json current = client_.get(deployments_ + "/web").value();
  json statusOnly = current;
  statusOnly["status"]["replicas"] = 7;
  statusOnly["spec"]["replicas"] = 9;  // ignored by /status
  json afterStatus = client_.update(deployments_ + "/web/status", statusOnly).value();
  EXPECT_EQ(afterStatus["metadata"]["generation"], 1);
  EXPECT_EQ(afterStatus["spec"]["replicas"], 1);
  EXPECT_NE(afterStatus["metadata"]["resourceVersion"], current["metadata"]["resourceVersion"]);
  auto stale = client_.update(deployments_ + "/web", current);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().httpStatus(), 409);
  EXPECT_EQ(stale.status().reason(), "Conflict");
  json fresh = client_.get(deployments_ + "/web").value();
  fresh["spec"]["replicas"] = 3;
  fresh["status"] = json::object();  // ignored by the main resource
  json afterSpec = client_.update(deployments_ + "/web", fresh).value();
  EXPECT_EQ(afterSpec["metadata"]["generation"], 2);
  EXPECT_EQ(afterSpec["status"]["replicas"], 3);

  // /scale: a Scale object with a string selector, optimistic concurrency on the Deployment's version.
  json scale = client_.get(deployments_ + "/web/scale").value();
  EXPECT_EQ(scale["kind"], "Scale");
  EXPECT_EQ(scale["status"]["selector"], "app=web");
  scale["spec"]["replicas"] = 1;
  ASSERT_TRUE(client_.update(deployments_ + "/web/scale", scale).ok());
  auto staleScale = client_.update(deployments_ + "/web/scale", scale);
  ASSERT_FALSE(staleScale.ok());
  EXPECT_EQ(staleScale.status().httpStatus(), 409);
  EXPECT_EQ(client_.get(deployments_ + "/web").value()["status"]["replicas"], 1);
}

// POST pods/<name>/eviction with a policy/v1 Eviction: 201 and the pod replaced, or 429 while a
// PodDisruptionBudget would be violated (the shapes a real API server answers with).
TEST_F(FakeKubeApiTest, EvictionHonoursPodDisruptionBudgets) {
  ASSERT_TRUE(client_.create(deployments_, deploymentObject("web", 2)).ok());
  ASSERT_TRUE(
      client_
          .create("/apis/policy/v1/namespaces/default/poddisruptionbudgets",
                  {{"apiVersion", "policy/v1"},
                   {"kind", "PodDisruptionBudget"},
                   {"metadata", {{"name", "web"}}},
                   {"spec", {{"minAvailable", 2}, {"selector", {{"matchLabels", {{"app", "web"}}}}}}}})
          .ok());
  auto pods = api_.listObjects("/api/v1/namespaces/default/pods");
  ASSERT_EQ(pods.size(), 2u);
  const std::string victim = pods[0]["metadata"]["name"];
  const std::string path = "/api/v1/namespaces/default/pods/" + victim + "/eviction";
  const json eviction = {{"apiVersion", "policy/v1"},
                         {"kind", "Eviction"},
                         {"metadata", {{"name", victim}, {"namespace", "default"}}}};
  auto refused = client_.create(path, eviction);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().httpStatus(), 429);
  EXPECT_EQ(refused.status().reason(), "TooManyRequests");
  EXPECT_NE(refused.status().message().find("disruption budget"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(api_.evictions(), 0);

  api_.updateObject("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web",
                    [](json& pdb) { pdb["spec"]["minAvailable"] = 1; });
  auto evicted = client_.create(path, eviction);
  ASSERT_TRUE(evicted.ok()) << evicted.status().message();
  EXPECT_EQ(evicted.value()["kind"], "Status");
  EXPECT_EQ(evicted.value()["status"], "Success");
  EXPECT_EQ(api_.evictions(), 1);
  EXPECT_FALSE(api_.getObject("/api/v1/namespaces/default/pods/" + victim));
  EXPECT_EQ(api_.listObjects("/api/v1/namespaces/default/pods").size(), 2u) << "the ReplicaSet replaced it";
  auto gone = client_.create(path, eviction);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().httpStatus(), 404);
  EXPECT_TRUE(api_.usage("test-client").count({"create", "", "pods/eviction"}) == 1);
}

TEST_F(FakeKubeApiTest, WatchStreamsEventsAndExpiresOldVersions) {
  auto list = client_.get(deployments_);
  std::string from = list.value()["metadata"]["resourceVersion"];
  std::vector<std::string> seen;
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    client_.watch(
        deployments_, from, 10,
        [&](const json& event) {
          seen.push_back(event["type"].get<std::string>() + ":" +
                         event["object"]["metadata"].value("name", event["object"].value("reason", "")));
          return event["type"] != "ERROR";
        },
        stop);
  });
  ASSERT_TRUE(client_.create(deployments_, deploymentObject("a", 1)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  api_.expireWatches();
  watcher.join();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front(), "ADDED:a");
  EXPECT_EQ(seen.back(), "ERROR:Expired");
  // Resuming from the old version now fails with 410 at once.
  std::vector<json> events;
  client_.watch(
      deployments_, from, 10,
      [&](const json& event) {
        events.push_back(event);
        return false;
      },
      stop);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["object"]["code"], 410);
}

std::string run(const std::string& command, int* status) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  char buffer[4096];
  while (pipe != nullptr && fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    output += buffer;
  }
  *status = pipe == nullptr ? -1 : pclose(pipe);
  return output;
}

TEST_F(FakeKubeApiTest, KubectlCanGetAndScaleADeployment) {
  TempDir dir;
  ASSERT_TRUE(client_.create(deployments_, deploymentObject("api-gateway", 1)).ok());
  std::string kubectl = "timeout 60 /usr/bin/kubectl --kubeconfig " + api_.writeKubeconfig(dir.path()) +
                        " --cache-dir " + dir.path() + "/cache ";
  int status = 0;
  std::string got = run(kubectl + "get deployment api-gateway -o json", &status);
  ASSERT_EQ(status, 0) << got;
  EXPECT_EQ(json::parse(got)["spec"]["replicas"], 1);
  std::string table = run(kubectl + "get deployments", &status);
  ASSERT_EQ(status, 0) << table;
  EXPECT_NE(table.find("api-gateway"), std::string::npos) << table;
  std::string scaled = run(kubectl + "scale deployment api-gateway --replicas=3", &status);
  ASSERT_EQ(status, 0) << scaled;
  EXPECT_NE(scaled.find("scaled"), std::string::npos) << scaled;
  EXPECT_EQ(client_.get(deployments_ + "/api-gateway").value()["spec"]["replicas"], 3);
  EXPECT_EQ(api_.listObjects("/api/v1/namespaces/default/pods").size(), 3u);
  EXPECT_TRUE(api_.usage("kubectl").count({"patch", "apps", "deployments/scale"}) == 1);
}

}  // namespace
}  // namespace mp::op::test
