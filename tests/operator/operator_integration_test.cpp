// The real platform-operator against the Kubernetes API double and a real Prometheus. The tests are the
// stages of one scenario on one shared environment and run in the order written (gtest's default).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "operator_harness.h"

namespace mp::op::test {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const std::string kAgent = "platform-operator/";
const std::string kLoad = "app_requests_per_second{service=\"api-gateway\"}";
constexpr int kDownWindowSeconds = 5;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class OperatorScenario : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    harness_ = new OperatorHarness();
    harness_->exporter().set(kLoad, 5);
    ASSERT_TRUE(harness_->prometheus().waitForData("app_requests_per_second", seconds(20)));
    harness_->createDeployment("api-gateway", 1);
    harness_->createDeployment("inventory-app", 1);
    harness_->createPolicy(
        "api-gateway",
        {{"targetRef", {{"kind", "Deployment"}, {"name", "api-gateway"}}},
         {"minReplicas", 1},
         {"maxReplicas", 3},
         {"metrics", json::array({{{"name", "request_rate"},
                                   {"query", "sum(app_requests_per_second{service=\"api-gateway\"})"},
                                   {"targetPerReplica", 10}}})},
         {"behavior",
          {{"scaleUpStabilizationSeconds", 0},
           {"scaleDownStabilizationSeconds", kDownWindowSeconds},
           {"tolerance", 0.1}}},
         {"health", {{"query", "app_pod_up == 0"}, {"unhealthyAfterSeconds", 2}}},
         {"fallbackReplicas", 2}});
    metricsPort_ = freeLoopbackPort();
    operator_ = harness_
                    ->startOperator("it-1", {"--sync-period", "1s", "--leader-elect", "--lease-duration",
                                             "4s", "--renew-deadline", "3s", "--retry-period", "500ms",
                                             "--metrics-bind-address", "127.0.0.1", "--metrics-port",
                                             std::to_string(metricsPort_)})
                    .release();
  }

  static void TearDownTestSuite() {
    delete operator_;
    delete harness_;
  }

  void TearDown() override {
    if (HasFailure()) {
      std::string log = operator_->log();
      std::cerr << "--- operator log (last 6000 bytes) ---\n"
                << log.substr(log.size() > 6000 ? log.size() - 6000 : 0) << "\n";
    }
  }

  static OperatorHarness& h() { return *harness_; }

  static OperatorHarness* harness_;
  static ChildProcess* operator_;
  static int metricsPort_;
  static std::string readySince_;
};

OperatorHarness* OperatorScenario::harness_ = nullptr;
ChildProcess* OperatorScenario::operator_ = nullptr;
int OperatorScenario::metricsPort_ = 0;
std::string OperatorScenario::readySince_;

TEST_F(OperatorScenario, ScalesUpWhenTheLoadRises) {
  // First the operator settles on the current load (5 per 10 per replica: one replica).
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Ready").value("status", "") == "True"; },
                      seconds(20)));
  EXPECT_EQ(h().replicas("api-gateway"), 1);
  h().exporter().set(kLoad, 25);
  auto start = Clock::now();
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 3; }, seconds(20)));
  std::cout << "scale-up 1 -> 3 observed " << secondsSince(start) << " s after the exporter changed\n";
  EXPECT_EQ(h().podNames("api-gateway").size(), 3u);

  // The Event is recorded right after the /scale write.
  ASSERT_TRUE(waitFor([] { return !h().events("api-gateway", "Scaled").empty(); }, seconds(5)));
  auto scaled = h().events("api-gateway", "Scaled");
  EXPECT_NE(scaled.back()["message"].get<std::string>().find("request_rate=25"), std::string::npos)
      << scaled.back()["message"];
  EXPECT_EQ(scaled.back()["involvedObject"]["kind"], "ServicePolicy");

  ASSERT_TRUE(waitFor([] { return h().policy("api-gateway")["status"].value("currentReplicas", 0) == 3; },
                      seconds(10)));
  json policy = h().policy("api-gateway");
  const json& status = policy["status"];
  EXPECT_EQ(status["desiredReplicas"], 3);
  EXPECT_EQ(status["observedGeneration"], policy["metadata"]["generation"]);
  EXPECT_TRUE(status.contains("lastScaleTime"));
  EXPECT_EQ(status["metrics"][0]["name"], "request_rate");
  EXPECT_EQ(status["metrics"][0]["value"], 25);
  EXPECT_EQ(h().condition("api-gateway", "MetricsAvailable")["status"], "True");
  EXPECT_EQ(h().condition("api-gateway", "ScalingLimited")["status"], "False");
  EXPECT_EQ(h().condition("api-gateway", "Healthy")["status"], "True");
  readySince_ = h().condition("api-gateway", "Ready")["lastTransitionTime"];
  EXPECT_FALSE(readySince_.empty());

  // Its own endpoints.
  std::string base = "http://127.0.0.1:" + std::to_string(metricsPort_);
  EXPECT_EQ(httpGetText(base + "/healthz"), "ok\n");
  EXPECT_EQ(httpGetText(base + "/readyz"), "ok\n");
  std::string metrics = httpGetText(base + "/metrics");
  for (const char* name :
       {"operator_reconciles_total{result=\"success\"}", "operator_decisions_total{decision=\"Scaled\"}",
        "operator_prometheus_query_duration_seconds_count", "operator_leader 1",
        "operator_policy_desired_replicas{namespace=\"default\",policy=\"api-gateway\"} 3",
        "operator_policy_current_replicas{namespace=\"default\",policy=\"api-gateway\"}",
        "operator_policy_metric_value{metric=\"request_rate\",namespace=\"default\",policy=\"api-gateway\"} "
        "25",
        "operator_policy_metric_target_per_replica{metric=\"request_rate\",namespace=\"default\",policy="
        "\"api-gateway\"} 10",
        "operator_errors_total{kind=\"prometheus\"} 0"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name;
  }
}

TEST_F(OperatorScenario, HoldsWithinToleranceAndTheDownWindowThenScalesDown) {
  ASSERT_EQ(h().replicas("api-gateway"), 3);
  const std::size_t scaledBefore = h().events("api-gateway", "Scaled").size();
  h().exporter().set(kLoad, 28);  // 28 over 3 replicas at 10 each: within the 10 % tolerance
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(h().replicas("api-gateway"), 3);
  EXPECT_EQ(h().events("api-gateway", "Scaled").size(), scaledBefore);

  h().exporter().set(kLoad, 4);  // recommends 1
  auto start = Clock::now();
  ASSERT_TRUE(waitFor([] { return !h().events("api-gateway", "ScaleHeld").empty(); }, seconds(10)));
  EXPECT_NE(
      h().events("api-gateway", "ScaleHeld").back()["message"].get<std::string>().find("ScaleDownStabilized"),
      std::string::npos);
  EXPECT_EQ(h().replicas("api-gateway"), 3);
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 1; }, seconds(25)));
  double took = secondsSince(start);
  std::cout << "scale-down 3 -> 1 came " << took << " s after the load fell (window " << kDownWindowSeconds
            << " s)\n";
  // The window runs from the last high recommendation, which the operator may have recorded up to one
  // sync period (1 s) before the exporter changed.
  EXPECT_GE(took, kDownWindowSeconds - 1) << "scaled down before the stabilization window had passed";
  // One Scaled Event (it follows the /scale write): straight to the window's highest, no 3 -> 2 -> 1.
  ASSERT_TRUE(
      waitFor([&] { return h().events("api-gateway", "Scaled").size() == scaledBefore + 1; }, seconds(5)));
  std::this_thread::sleep_for(seconds(1));
  EXPECT_EQ(h().events("api-gateway", "Scaled").size(), scaledBefore + 1);
}

// Healing evicts (so PodDisruptionBudgets are consulted), never leaves fewer than minReplicas ready, and
// takes a 429 from the Eviction API as "not now".
TEST_F(OperatorScenario, RestartsAPodThatStaysUnhealthyByEvictionNeverBelowMinReplicas) {
  auto pods = h().podNames("api-gateway");
  ASSERT_EQ(pods.size(), 1u);
  const std::string sick = pods[0];
  const std::string podPath = "/api/v1/namespaces/default/pods/" + sick;
  auto healthyMessage = [] { return h().condition("api-gateway", "Healthy").value("message", ""); };
  h().exporter().set("app_pod_up{pod=\"" + sick + "\"}", 0);
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Healthy").value("status", "") == "False"; },
                      seconds(15)));
  // minReplicas 1 and one ready pod: restarting it would leave none ready.
  ASSERT_TRUE(waitFor([&] { return healthyMessage().find("minReplicas") != std::string::npos; }, seconds(10)))
      << healthyMessage();
  std::this_thread::sleep_for(seconds(3));
  EXPECT_TRUE(h().events("api-gateway", "PodRestarted").empty()) << "restarted the only ready pod";
  EXPECT_TRUE(h().api().getObject(podPath));

  // Two ready pods, but a budget that allows no disruption: the eviction is answered 429, not forced.
  const std::string budget = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
  h().api().createObject(
      budget, {{"apiVersion", "policy/v1"},
               {"kind", "PodDisruptionBudget"},
               {"metadata", {{"name", "api-gateway"}}},
               {"spec", {{"minAvailable", 2}, {"selector", {{"matchLabels", {{"app", "api-gateway"}}}}}}}});
  h().exporter().set(kLoad, 15);  // recommends 2
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 2; }, seconds(15)));
  ASSERT_TRUE(waitFor([&] { return healthyMessage().find("429") != std::string::npos; }, seconds(15)))
      << healthyMessage();
  EXPECT_TRUE(h().events("api-gateway", "PodRestarted").empty());
  EXPECT_TRUE(h().api().getObject(podPath));
  EXPECT_EQ(h().api().evictions(), 0);

  // The budget allows one disruption now: the next sync evicts the pod and its ReplicaSet replaces it.
  h().api().updateObject(budget + "/api-gateway", [](json& pdb) { pdb["spec"]["minAvailable"] = 1; });
  ASSERT_TRUE(waitFor([&] { return !h().events("api-gateway", "PodRestarted").empty(); }, seconds(15)));
  h().exporter().remove("app_pod_up{pod=\"" + sick + "\"}");
  auto restarted = h().events("api-gateway", "PodRestarted");
  ASSERT_EQ(restarted.size(), 1u);
  EXPECT_NE(restarted[0]["message"].get<std::string>().find(sick), std::string::npos);
  EXPECT_EQ(h().api().evictions(), 1);
  EXPECT_FALSE(h().api().getObject(podPath));
  auto now = h().podNames("api-gateway");
  ASSERT_EQ(now.size(), 2u) << "the ReplicaSet replaced it";
  EXPECT_EQ(std::count(now.begin(), now.end(), sick), 0);
  // The series of the evicted pod goes stale in Prometheus (lookback 5 s) and the condition recovers.
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Healthy").value("status", "") == "True"; },
                      seconds(20)));
  EXPECT_EQ(h().events("api-gateway", "PodRestarted").size(), 1u);
  h().exporter().set(kLoad, 4);  // back to one replica for the stages below
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 1; }, seconds(25)));
}

TEST_F(OperatorScenario, AnEmptyQueryNeverScalesDownAndRisesToFallback) {
  ASSERT_EQ(h().replicas("api-gateway"), 1);
  h().exporter().remove(kLoad);
  ASSERT_TRUE(
      waitFor([] { return h().condition("api-gateway", "MetricsAvailable").value("status", "") == "False"; },
              seconds(20)));
  EXPECT_EQ(h().condition("api-gateway", "MetricsAvailable")["reason"], "EmptyResult");
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 2; }, seconds(10)))
      << "fallbackReplicas is 2";
  std::this_thread::sleep_for(seconds(kDownWindowSeconds + 1));
  EXPECT_EQ(h().replicas("api-gateway"), 2);
  json metric = h().policy("api-gateway")["status"]["metrics"][0];
  EXPECT_FALSE(metric.contains("value"));
  EXPECT_EQ(metric["error"], "query returned no data");
}

TEST_F(OperatorScenario, HoldsWhileTheDeploymentRollsOut) {
  ASSERT_EQ(h().replicas("api-gateway"), 2);
  h().api().holdRollout("default", "api-gateway", true);
  h().exporter().set(kLoad, 25);  // recommends 3
  ASSERT_TRUE(waitFor(
      [] {
        auto held = h().events("api-gateway", "ScaleHeld");
        return !held.empty() &&
               held.back()["message"].get<std::string>().find("RollingOut") != std::string::npos;
      },
      seconds(15)));
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(h().replicas("api-gateway"), 2) << "scaled during a rollout";
  h().api().holdRollout("default", "api-gateway", false);
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 3; }, seconds(15)));
}

// Past its progress deadline a rollout no longer holds the count: scaling resumes, and the policy says so
// in a condition and an Event.
TEST_F(OperatorScenario, AStuckRolloutStopsHoldingPastItsProgressDeadline) {
  ASSERT_EQ(h().replicas("api-gateway"), 3);
  const std::size_t heldBefore = h().events("api-gateway", "ScaleHeld").size();
  struct Release {  // the stages below need a finished rollout even when this one fails
    ~Release() {
      h().api().exceedProgressDeadline("default", "api-gateway", false);
      h().api().holdRollout("default", "api-gateway", false);
    }
  } release;
  h().api().holdRollout("default", "api-gateway", true);
  h().exporter().set(kLoad, 15);  // recommends 2
  ASSERT_TRUE(waitFor(
      [&] {
        auto held = h().events("api-gateway", "ScaleHeld");
        return held.size() > heldBefore &&
               held.back()["message"].get<std::string>().find("RollingOut") != std::string::npos;
      },
      seconds(15)));
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(h().replicas("api-gateway"), 3) << "scaled during a rollout within its deadline";

  h().api().exceedProgressDeadline("default", "api-gateway", true);
  auto stuckAt = Clock::now();
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 2; }, seconds(20)))
      << "a rollout past its progress deadline still holds the count";
  std::cout << "scaled 3 -> 2 " << secondsSince(stuckAt)
            << " s after the rollout passed its deadline (window " << kDownWindowSeconds << " s)\n";
  json stuck = h().condition("api-gateway", "RolloutStuck");
  EXPECT_EQ(stuck["status"], "True");
  EXPECT_EQ(stuck["reason"], "ProgressDeadlineExceeded");
  EXPECT_NE(stuck["message"].get<std::string>().find("timed out progressing"), std::string::npos) << stuck;
  auto events = h().events("api-gateway", "RolloutStuck");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_NE(events[0]["message"].get<std::string>().find("ProgressDeadlineExceeded"), std::string::npos);

  h().api().exceedProgressDeadline("default", "api-gateway", false);
  h().api().holdRollout("default", "api-gateway", false);
  ASSERT_TRUE(
      waitFor([] { return h().condition("api-gateway", "RolloutStuck").value("status", "") == "False"; },
              seconds(10)));
  EXPECT_EQ(h().events("api-gateway", "RolloutStuck").size(), 1u) << "one Event per stuck rollout";
}

TEST_F(OperatorScenario, ReListsAfterTheWatchExpiresAndSeesSpecChanges) {
  h().api().expireWatches();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  h().api().updateObject("/apis/platform.movies.dev/v1alpha1/namespaces/default/servicepolicies/api-gateway",
                         [](json& p) { p["spec"]["maxReplicas"] = 4; });
  int64_t generation = h().policy("api-gateway")["metadata"]["generation"];
  ASSERT_TRUE(waitFor(
      [&] { return h().policy("api-gateway")["status"].value("observedGeneration", 0) == generation; },
      seconds(10)));
  EXPECT_NE(operator_->log().find("re-listing"), std::string::npos);
  EXPECT_EQ(h().condition("api-gateway", "Ready")["observedGeneration"], generation);
}

TEST_F(OperatorScenario, AnInvalidSpecIsReportedAndNothingIsDone) {
  h().createPolicy(
      "inventory-app",
      {{"targetRef", {{"kind", "Deployment"}, {"name", "inventory-app"}}},
       {"minReplicas", 3},
       {"maxReplicas", 2},
       {"metrics", json::array({{{"name", "request_rate"}, {"query", ""}, {"targetPerReplica", 0}}})}});
  ASSERT_TRUE(
      waitFor([] { return h().condition("inventory-app", "Ready").value("reason", "") == "InvalidSpec"; },
              seconds(15)));
  std::string message = h().condition("inventory-app", "Ready")["message"];
  EXPECT_NE(message.find("greater than spec.maxReplicas"), std::string::npos) << message;
  EXPECT_NE(message.find("query is empty"), std::string::npos) << message;
  EXPECT_NE(message.find("targetPerReplica must be greater than 0"), std::string::npos) << message;
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(h().replicas("inventory-app"), 1);
  EXPECT_EQ(h().events("inventory-app", "InvalidSpec").size(), 1u) << "one Event, not one per resync";
}

// An HPA on the same Deployment owns its count: the operator holds, says so, and names it.
TEST_F(OperatorScenario, LeavesTheCountToAHorizontalPodAutoscaler) {
  const int before = h().replicas("api-gateway");
  ASSERT_LT(before, 4);
  const std::string hpas = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
  h().api().createObject(
      hpas,
      {{"apiVersion", "autoscaling/v2"},
       {"kind", "HorizontalPodAutoscaler"},
       {"metadata", {{"name", "api-gateway-cpu"}}},
       {"spec",
        {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "api-gateway"}}},
         {"minReplicas", 1},
         {"maxReplicas", 5},
         {"metrics",
          json::array({{{"type", "Resource"},
                        {"resource",
                         {{"name", "cpu"},
                          {"target", {{"type", "Utilization"}, {"averageUtilization", 60}}}}}}})}}}});
  h().exporter().set(kLoad, 35);  // recommends 4 (maxReplicas is 4 now)
  std::this_thread::sleep_for(seconds(4));
  EXPECT_EQ(h().replicas("api-gateway"), before) << "scaled a Deployment that an HPA also scales";
  json owned = h().condition("api-gateway", "ReplicasOwned");
  EXPECT_EQ(owned["status"], "False");
  EXPECT_EQ(owned["reason"], "OtherOwner");
  EXPECT_NE(owned.value("message", "").find("HorizontalPodAutoscaler api-gateway-cpu"), std::string::npos)
      << owned;
  auto held = h().events("api-gateway", "ScaleHeld");
  ASSERT_FALSE(held.empty());
  EXPECT_NE(held.back()["message"].get<std::string>().find("OtherOwner"), std::string::npos);
  EXPECT_NE(held.back()["message"].get<std::string>().find("HorizontalPodAutoscaler api-gateway-cpu"),
            std::string::npos)
      << held.back()["message"];
  EXPECT_EQ(held.back()["type"], "Warning");

  // The HPA goes: the operator owns the count again at once (its informer sees the deletion).
  h().api().deleteObject(hpas + "/api-gateway-cpu");
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 4; }, seconds(15)));
  EXPECT_EQ(h().condition("api-gateway", "ReplicasOwned")["status"], "True");
}

// The pause annotation: status and Events go on, the count and the pods are left alone.
TEST_F(OperatorScenario, APausedPolicyOnlyReports) {
  const int before = h().replicas("api-gateway");
  ASSERT_NE(before, 2);
  const std::string policyPath =
      "/apis/platform.movies.dev/v1alpha1/namespaces/default/servicepolicies/api-gateway";
  h().api().updateObject(
      policyPath, [](json& p) { p["metadata"]["annotations"]["platform.movies.dev/paused"] = "true"; });
  h().exporter().set(kLoad, 15);  // recommends 2
  std::this_thread::sleep_for(seconds(kDownWindowSeconds + 3));
  EXPECT_EQ(h().replicas("api-gateway"), before) << "a paused policy scaled";
  json paused = h().condition("api-gateway", "Paused");
  EXPECT_EQ(paused["status"], "True");
  EXPECT_EQ(paused["reason"], "PausedByAnnotation");
  auto held = h().events("api-gateway", "ScaleHeld");
  ASSERT_FALSE(held.empty());
  EXPECT_NE(held.back()["message"].get<std::string>().find("Paused"), std::string::npos);
  EXPECT_NE(h().condition("api-gateway", "Ready")["message"].get<std::string>().find("Paused"),
            std::string::npos);

  h().api().updateObject(policyPath,
                         [](json& p) { p["metadata"]["annotations"].erase("platform.movies.dev/paused"); });
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Paused").value("status", "") == "False"; },
                      seconds(10)));
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 2; }, seconds(25)));
}

TEST_F(OperatorScenario, HoldsWhenPrometheusIsDown) {
  h().exporter().set(kLoad, 25);
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 3; }, seconds(20)));
  ASSERT_TRUE(
      waitFor([] { return h().condition("api-gateway", "MetricsAvailable").value("status", "") == "True"; },
              seconds(10)));
  h().exporter().set(kLoad, 1);
  h().prometheus().stop();
  ASSERT_TRUE(waitFor(
      [] {
        return h().condition("api-gateway", "MetricsAvailable").value("reason", "") ==
               "PrometheusUnreachable";
      },
      seconds(15)));
  std::this_thread::sleep_for(seconds(kDownWindowSeconds + 2));
  EXPECT_EQ(h().replicas("api-gateway"), 3) << "never scales down without metrics";
  EXPECT_EQ(h().condition("api-gateway", "Healthy")["status"], "Unknown");
  auto held = h().events("api-gateway", "ScaleHeld");
  ASSERT_FALSE(held.empty());
  EXPECT_NE(held.back()["message"].get<std::string>().find("MetricsUnavailable"), std::string::npos);
  EXPECT_EQ(held.back()["type"], "Warning");
  // Ready never flipped during all of this: its lastTransitionTime stayed put.
  EXPECT_EQ(h().condition("api-gateway", "Ready")["lastTransitionTime"], readySince_);
}

TEST_F(OperatorScenario, RbacRulesMatchWhatTheOperatorUses) {
  json rules = loadYamlAsJson(sourcePath("charts/movie-platform/files/operator-rbac-rules.yaml"));
  auto granted = rbacGrants(rules);
  std::set<std::tuple<std::string, std::string, std::string>> used;
  for (const ApiUsage& u : h().api().usage(kAgent)) {
    used.emplace(u.verb, u.group, u.resource);
  }
  for (const auto& [verb, group, resource] : used) {
    EXPECT_TRUE(granted.count({verb, group, resource}))
        << "used but not granted: " << verb << " " << group << "/" << resource;
  }
  for (const auto& [verb, group, resource] : granted) {
    EXPECT_TRUE(used.count({verb, group, resource}))
        << "granted but never used: " << verb << " " << group << "/" << resource;
  }
}

TEST_F(OperatorScenario, StopsOnSigtermAndReleasesTheLease) {
  int status = operator_->stop(SIGTERM, seconds(15));
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto lease =
      h().api().getObject("/apis/coordination.k8s.io/v1/namespaces/default/leases/platform-operator");
  ASSERT_TRUE(lease);
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "");
  // Every log line is one JSON object.
  std::istringstream lines(operator_->log());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    json parsed = json::parse(line, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << line;
    EXPECT_TRUE(parsed.contains("event"));
    ++count;
  }
  EXPECT_GT(count, 5);
}

TEST(OperatorCommandLine, HelpAndBadFlags) {
  TempDir dir;
  const std::string binary = testBinary("MP_OPERATOR_BIN");
  auto run = [&](const std::vector<std::string>& args, const std::string& name) {
    std::vector<std::string> argv = {binary};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess process(argv, dir.path() + "/" + name + ".log");
    int status = process.stop(0, seconds(10));  // signal 0: just wait for the exit
    return std::make_pair(status, process.log());
  };
  auto [helpStatus, help] = run({"--help"}, "help");
  ASSERT_TRUE(WIFEXITED(helpStatus));
  EXPECT_EQ(WEXITSTATUS(helpStatus), 0);
  EXPECT_NE(help.find("--prometheus-url URL"), std::string::npos);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--bogus"}, {}, {"--prometheus-url", "http://127.0.0.1:1", "--sync-period", "soon"}}) {
    auto [status, output] = run(args, "bad");
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2) << output;
    EXPECT_EQ(output.rfind("platform-operator: ", 0), 0u) << output;
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
    std::remove((dir.path() + "/bad.log").c_str());
  }
}

}  // namespace
}  // namespace mp::op::test
