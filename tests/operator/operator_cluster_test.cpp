// The real platform-operator against the real API server of scripts/cluster (MP_CLUSTER_DIR: kube-apiserver,
// etcd, the controller-manager and scheduler, kwok nodes that make pods Running and Ready) and a real
// Prometheus. The operator runs under its own RBAC with a TokenRequest token, in a namespace of its own.
// OperatorOnCluster is one scenario whose tests are its stages and run in the order written (gtest's
// default); the watch and leader-election suites have their own namespace and processes.
// Without a running cluster every test FAILS with the reason (never a silent skip).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "cluster_harness.h"
#include "runtime/time_format.h"
#include "support/tcp_proxy.h"

namespace mp::op::test {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int kDownWindowSeconds = 5;
// The progress deadline of the stuck rollout stage: long enough to see the hold within it.
constexpr int kProgressDeadlineSeconds = 20;
const std::string kPausedAnnotation = "platform.movies.dev/paused";

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string tail(const std::string& text, std::size_t bytes) {
  return text.substr(text.size() > bytes ? text.size() - bytes : 0);
}

// Where a harness cannot be built (no cluster): the reason every test of the suite fails with.
std::string& setupFailure() {
  static std::string reason;
  return reason;
}

std::unique_ptr<ClusterHarness> makeHarness() {
  try {
    return std::make_unique<ClusterHarness>();
  } catch (const std::exception& e) {
    setupFailure() = e.what();
    return nullptr;
  }
}

// A harness with Deployment api-gateway (1 replica) and its ServicePolicy (1..3, 10 per replica of
// sum(app_requests_per_second), at 5 now, with `behavior`), or nullptr with setupFailure() saying why.
std::unique_ptr<ClusterHarness> harnessWithOnePolicy(const json& behavior) {
  auto harness = makeHarness();
  if (harness == nullptr) {
    setupFailure() = "no real API server to test on: " + setupFailure();
    return nullptr;
  }
  harness->exporter().set(kLoad, 5);
  if (!harness->prometheus().waitForData("app_requests_per_second", seconds(20))) {
    setupFailure() = "Prometheus has no data from the exporter after 20 s";
    return nullptr;
  }
  harness->createDeployment("api-gateway", 1);
  auto created = harness->createPolicy("api-gateway",
                                       {{"targetRef", {{"kind", "Deployment"}, {"name", "api-gateway"}}},
                                        {"maxReplicas", 3},
                                        {"metrics", json::array({{{"name", "request_rate"},
                                                                  {"query", "sum(app_requests_per_second)"},
                                                                  {"targetPerReplica", 10}}})},
                                        {"behavior", behavior}});
  if (!created.ok()) {
    setupFailure() = "creating ServicePolicy api-gateway: " + created.status().message();
    return nullptr;
  }
  return harness;
}

// Whether `text` holds 403 standing alone (not inside a longer number or a fraction).
bool hasCode403(const std::string& text) {
  for (auto at = text.find("403"); at != std::string::npos; at = text.find("403", at + 1)) {
    bool before = at > 0 && (std::isdigit(static_cast<unsigned char>(text[at - 1])) || text[at - 1] == '.');
    bool after = at + 3 < text.size() && std::isdigit(static_cast<unsigned char>(text[at + 3]));
    if (!before && !after) {
      return true;
    }
  }
  return false;
}

// Lines of an operator log that show the server refusing it: "forbidden" or a 403 anywhere but in the
// timestamp (whose digits may hold one).
std::vector<std::string> forbiddenLines(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    json parsed = json::parse(line, nullptr, false);
    if (parsed.is_object()) {
      parsed.erase("ts");
    }
    std::string text = parsed.is_discarded() ? line : parsed.dump();
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower.find("forbidden") != std::string::npos || hasCode403(text)) {
      out.push_back(line);
    }
  }
  return out;
}

class OperatorOnCluster : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    harness_ = makeHarness().release();
    if (harness_ == nullptr) {
      return;
    }
    h().exporter().set(kLoad, 5);
    if (!h().prometheus().waitForData("app_requests_per_second", seconds(20))) {
      setupFailure() = "Prometheus has no data from the exporter after 20 s";
      return;
    }
    h().createDeployment("api-gateway", 1);
    h().createDeployment("inventory-app", 1);
    auto created = h().createPolicy(
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
    if (!created.ok()) {
      setupFailure() = "creating ServicePolicy api-gateway: " + created.status().message();
      return;
    }
    metricsPort_ = freeLoopbackPort();
    operator_ = h().startOperator(
                       "it-1", {"--sync-period", "1s", "--leader-elect", "--lease-duration", "4s",
                                "--renew-deadline", "3s", "--retry-period", "500ms", "--metrics-bind-address",
                                "127.0.0.1", "--metrics-port", std::to_string(metricsPort_)})
                    .release();
  }

  static void TearDownTestSuite() {
    delete operator_;
    delete harness_;
    operator_ = nullptr;
    harness_ = nullptr;
  }

  void SetUp() override {
    if (operator_ == nullptr) {
      FAIL() << "no real API server to test on: " << setupFailure();
    }
  }

  void TearDown() override {
    if (HasFailure() && operator_ != nullptr) {
      std::cerr << "--- operator log (last 6000 bytes) ---\n" << tail(operator_->log(), 6000) << "\n";
    }
  }

  static ClusterHarness& h() { return *harness_; }
  static bool readyPods(int n) {
    return h().policy("api-gateway").value("status", json::object()).value("currentReplicas", 0) == n;
  }
  static std::string deployment() { return h().path("apps", "deployments", "api-gateway"); }

  // A new template that no node accepts: the Deployment controller makes a new ReplicaSet whose pod
  // stays Pending, so the rollout never completes (maxSurge 25 % of 2 or 3 = 1 new pod, the old ones
  // stay). Returns once the controller has observed it.
  static void startUnfinishableRollout(int progressDeadlineSeconds) {
    ASSERT_TRUE(
        h().api()
            .mergePatch(deployment(),
                        {{"spec",
                          {{"progressDeadlineSeconds", progressDeadlineSeconds},
                           {"template", {{"spec", {{"nodeSelector", {{"no-such-node", "true"}}}}}}}}}})
            .ok());
    ASSERT_TRUE(waitFor(
        [] {
          auto d = h().api().get(deployment());
          return d.ok() &&
                 d.value()["status"].value("observedGeneration", 0) == d.value()["metadata"]["generation"] &&
                 d.value()["status"].value("updatedReplicas", 0) == 1;
        },
        seconds(15)))
        << "the Deployment controller did not start the rollout";
  }

  // Back to the old template (and the default deadline): the controller returns to the old ReplicaSet
  // and the rollout is complete.
  static void undoRollout() {
    ASSERT_TRUE(h().api()
                    .mergePatch(deployment(), {{"spec",
                                                {{"progressDeadlineSeconds", 600},
                                                 {"template", {{"spec", {{"nodeSelector", nullptr}}}}}}}})
                    .ok());
  }

  // What the server answered each eviction the operator asked for (HTTP codes from the audit log).
  static std::vector<int> evictionAnswers() {
    std::vector<int> codes;
    for (const json& record : h().operatorWrites()) {
      if (record["objectRef"].value("subresource", "") == "eviction") {
        codes.push_back(record["responseStatus"].value("code", 0));
      }
    }
    return codes;
  }

  static bool heldFor(const std::string& reason, std::size_t after) {
    auto held = h().events("api-gateway", {"ScaleHeld"});
    return held.size() > after && held.back()["message"].get<std::string>().find(reason) != std::string::npos;
  }

  static ClusterHarness* harness_;
  static ChildProcess* operator_;
  static int metricsPort_;
  static std::string readySince_;
};

ClusterHarness* OperatorOnCluster::harness_ = nullptr;
ChildProcess* OperatorOnCluster::operator_ = nullptr;
int OperatorOnCluster::metricsPort_ = 0;
std::string OperatorOnCluster::readySince_;

TEST_F(OperatorOnCluster, ScalesUpWhenTheLoadRises) {
  // First the operator settles on the current load (5 per 10 per replica: one replica).
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Ready").value("status", "") == "True"; },
                      seconds(30)));
  EXPECT_EQ(h().replicas("api-gateway"), 1);
  h().exporter().set(kLoad, 25);
  auto start = Clock::now();
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 3; }, seconds(20)));
  std::cout << "scale-up 1 -> 3 written " << secondsSince(start) << " s after the exporter changed\n";
  // The controller-manager creates the pods, the scheduler places them, kwok makes them Ready.
  ASSERT_TRUE(waitFor([] { return readyPods(3); }, seconds(30)));
  std::cout << "3 pods Ready (as the operator counts them) " << secondsSince(start) << " s after\n";
  EXPECT_EQ(h().livePodNames("api-gateway").size(), 3u);

  ASSERT_TRUE(waitFor([] { return !h().events("api-gateway", {"Scaled"}).empty(); }, seconds(5)));
  auto scaled = h().events("api-gateway", {"Scaled"});
  EXPECT_NE(scaled.back()["message"].get<std::string>().find("request_rate=25"), std::string::npos)
      << scaled.back()["message"];
  EXPECT_EQ(scaled.back()["involvedObject"]["kind"], "ServicePolicy");

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
  // The services' HttpServer answers them, in the same JSON as every service's (docs/operator.md).
  EXPECT_EQ(httpGetText(base + "/healthz"), "{\"status\":\"alive\"}");
  EXPECT_EQ(httpGetText(base + "/readyz"), "{\"status\":\"ready\"}");
  std::string metrics = httpGetText(base + "/metrics");
  const std::string labels = "namespace=\"" + h().ns() + "\",policy=\"api-gateway\"";
  for (const std::string& name :
       {std::string("operator_reconciles_total{result=\"success\"}"),
        std::string("operator_decisions_total{decision=\"Scaled\"}"),
        std::string("operator_prometheus_query_duration_seconds_count"), std::string("operator_leader 1"),
        "operator_policy_desired_replicas{" + labels + "} 3",
        "operator_policy_current_replicas{" + labels + "}",
        "operator_policy_metric_value{metric=\"request_rate\"," + labels + "} 25",
        "operator_policy_metric_target_per_replica{metric=\"request_rate\"," + labels + "} 10",
        std::string("operator_errors_total{kind=\"prometheus\"} 0")}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name;
  }
}

TEST_F(OperatorOnCluster, HoldsWithinToleranceAndTheDownWindowThenScalesDown) {
  ASSERT_EQ(h().replicas("api-gateway"), 3);
  ASSERT_TRUE(waitFor([] { return readyPods(3); }, seconds(10)));
  const std::size_t scaledBefore = h().events("api-gateway", {"Scaled"}).size();
  h().exporter().set(kLoad, 28);  // 28 over 3 replicas at 10 each: within the 10 % tolerance
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(h().replicas("api-gateway"), 3);
  EXPECT_EQ(h().events("api-gateway", {"Scaled"}).size(), scaledBefore);

  h().exporter().set(kLoad, 4);  // recommends 1
  auto start = Clock::now();
  ASSERT_TRUE(waitFor([] { return heldFor("ScaleDownStabilized", 0); }, seconds(10)));
  EXPECT_EQ(h().replicas("api-gateway"), 3);
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 1; }, seconds(25)));
  double took = secondsSince(start);
  std::cout << "scale-down 3 -> 1 came " << took << " s after the load fell (window " << kDownWindowSeconds
            << " s)\n";
  // The window runs from the last high recommendation, up to one sync period (1 s) before the change.
  EXPECT_GE(took, kDownWindowSeconds - 1) << "scaled down before the stabilization window had passed";
  ASSERT_TRUE(
      waitFor([&] { return h().events("api-gateway", {"Scaled"}).size() == scaledBefore + 1; }, seconds(5)));
  std::this_thread::sleep_for(seconds(1));
  EXPECT_EQ(h().events("api-gateway", {"Scaled"}).size(), scaledBefore + 1) << "3 -> 2 -> 1, not 3 -> 1";
  // The ReplicaSet removes two pods; kwok finishes their deletion.
  EXPECT_TRUE(
      waitFor([] { return h().livePodNames("api-gateway").size() == 1u && readyPods(1); }, seconds(30)));
}

// Healing through the Eviction API as the real server applies it (the disruption controller works out
// each budget's disruptionsAllowed): never fewer than minReplicas ready, a 429 from a PodDisruptionBudget
// taken as "not now", and one eviction once the budget allows it; the ReplicaSet replaces the pod.
TEST_F(OperatorOnCluster, RestartsAPodThatStaysUnhealthyByEvictionNeverBelowMinReplicas) {
  auto pods = h().livePodNames("api-gateway");
  ASSERT_EQ(pods.size(), 1u);
  const std::string sick = pods[0];
  const std::string sickSeries = "app_pod_up{pod=\"" + sick + "\"}";
  auto healthyMessage = [] { return h().condition("api-gateway", "Healthy").value("message", ""); };
  h().exporter().set(sickSeries, 0);
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Healthy").value("status", "") == "False"; },
                      seconds(15)));
  // minReplicas 1 and one ready pod: restarting it would leave none ready.
  ASSERT_TRUE(waitFor([&] { return healthyMessage().find("minReplicas") != std::string::npos; }, seconds(10)))
      << healthyMessage();
  std::this_thread::sleep_for(seconds(3));
  EXPECT_TRUE(h().events("api-gateway", {"PodRestarted"}).empty()) << "restarted the only ready pod";
  EXPECT_TRUE(evictionAnswers().empty()) << "asked to evict the only ready pod";
  EXPECT_FALSE(h().podGoneOrTerminating(sick));

  // Two ready pods, but a budget that allows no disruption: the server answers the eviction 429.
  const std::string budgets = h().path("policy", "poddisruptionbudgets");
  ASSERT_TRUE(
      h().api()
          .create(
              budgets,
              {{"apiVersion", "policy/v1"},
               {"kind", "PodDisruptionBudget"},
               {"metadata", {{"name", "api-gateway"}}},
               {"spec", {{"minAvailable", 2}, {"selector", {{"matchLabels", {{"app", "api-gateway"}}}}}}}})
          .ok());
  h().exporter().set(kLoad, 15);  // recommends 2
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 2 && readyPods(2); }, seconds(30)));
  ASSERT_TRUE(waitFor([&] { return healthyMessage().find("429") != std::string::npos; }, seconds(20)))
      << healthyMessage();
  EXPECT_TRUE(h().events("api-gateway", {"PodRestarted"}).empty());
  EXPECT_FALSE(h().podGoneOrTerminating(sick));
  auto answers = evictionAnswers();
  EXPECT_FALSE(answers.empty());
  EXPECT_EQ(std::count(answers.begin(), answers.end(), 429), static_cast<long>(answers.size()))
      << "an eviction was answered other than 429 while the budget allowed none";

  // The budget allows one disruption now: the next sync evicts the pod, once.
  ASSERT_TRUE(h().api().mergePatch(budgets + "/api-gateway", {{"spec", {{"minAvailable", 1}}}}).ok());
  ASSERT_TRUE(waitFor([&] { return !h().events("api-gateway", {"PodRestarted"}).empty(); }, seconds(20)))
      << healthyMessage();
  h().exporter().remove(sickSeries);
  auto restarted = h().events("api-gateway", {"PodRestarted"});
  ASSERT_EQ(restarted.size(), 1u);
  EXPECT_NE(restarted[0]["message"].get<std::string>().find(sick), std::string::npos);
  answers = evictionAnswers();
  EXPECT_EQ(std::count_if(answers.begin(), answers.end(), [](int code) { return code < 300; }), 1)
      << "evictions granted by the server: not exactly one";
  EXPECT_TRUE(waitFor([&] { return h().podGoneOrTerminating(sick); }, seconds(15)));
  ASSERT_TRUE(waitFor(
      [&] {
        auto now = h().livePodNames("api-gateway");
        return now.size() == 2u && std::find(now.begin(), now.end(), sick) == now.end() && readyPods(2);
      },
      seconds(30)))
      << "the ReplicaSet did not replace " << sick;
  // The series of the evicted pod goes stale in Prometheus (lookback 5 s) and the condition recovers.
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Healthy").value("status", "") == "True"; },
                      seconds(20)));
  EXPECT_EQ(h().events("api-gateway", {"PodRestarted"}).size(), 1u);
  EXPECT_TRUE(h().api().remove(budgets + "/api-gateway").ok());
  h().exporter().set(kLoad, 4);  // back to one replica for the stages below
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 1 && readyPods(1); }, seconds(30)));
}

TEST_F(OperatorOnCluster, AnEmptyQueryNeverScalesDownAndRisesToFallback) {
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
  EXPECT_TRUE(waitFor([] { return readyPods(2); }, seconds(30)));
}

TEST_F(OperatorOnCluster, HoldsWhileTheDeploymentRollsOut) {
  ASSERT_EQ(h().replicas("api-gateway"), 2);
  const std::size_t heldBefore = h().events("api-gateway", {"ScaleHeld"}).size();
  ASSERT_NO_FATAL_FAILURE(startUnfinishableRollout(600));
  h().exporter().set(kLoad, 25);  // recommends 3
  ASSERT_TRUE(waitFor([&] { return heldFor("RollingOut", heldBefore); }, seconds(15)))
      << "no ScaleHeld RollingOut Event; replicas now " << h().replicas("api-gateway");
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(h().replicas("api-gateway"), 2) << "scaled during a rollout";
  undoRollout();
  auto start = Clock::now();
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 3; }, seconds(30)));
  std::cout << "scaled 2 -> 3 " << secondsSince(start) << " s after the rollout was undone\n";
  EXPECT_TRUE(waitFor([] { return readyPods(3); }, seconds(30)));
}

// Past its progress deadline a rollout no longer holds the count: the real Deployment controller marks
// it Progressing=False ProgressDeadlineExceeded, scaling resumes, and the policy says so in a condition
// and one Event.
TEST_F(OperatorOnCluster, AStuckRolloutStopsHoldingPastItsProgressDeadline) {
  ASSERT_EQ(h().replicas("api-gateway"), 3);
  ASSERT_TRUE(waitFor([] { return readyPods(3); }, seconds(10)));
  const std::size_t heldBefore = h().events("api-gateway", {"ScaleHeld"}).size();
  struct Undo {  // the stages below need a finished rollout even when this one fails
    ~Undo() { undoRollout(); }
  } undo;
  auto started = Clock::now();
  ASSERT_NO_FATAL_FAILURE(startUnfinishableRollout(kProgressDeadlineSeconds));
  h().exporter().set(kLoad, 15);  // recommends 2
  ASSERT_TRUE(waitFor([&] { return heldFor("RollingOut", heldBefore); }, seconds(15)));
  std::this_thread::sleep_for(seconds(2));
  ASSERT_LT(secondsSince(started), kProgressDeadlineSeconds)
      << "too slow to see the hold within the deadline";
  EXPECT_EQ(h().replicas("api-gateway"), 3) << "scaled during a rollout within its deadline";

  // The condition as read while it was True. It is read on every look for the scale-down too: the
  // scale-down itself is progress to the Deployment controller (fewer old replicas), which may mark the
  // rollout Progressing again, and the operator then sets the condition back to False at once, before a
  // read made after the scale was seen (07:05:00.343 scaled, .439 held again, in a run of 2026-12-02).
  json stuck, last;
  auto lookAtCondition = [&] {
    last = h().condition("api-gateway", "RolloutStuck");
    if (last.value("status", "") == "True") {
      stuck = last;
    }
  };
  ASSERT_TRUE(waitFor(
      [&] {
        lookAtCondition();
        return h().replicas("api-gateway") == 2;
      },
      seconds(kProgressDeadlineSeconds + 20)))
      << "a rollout past its progress deadline still holds the count";
  std::cout << "scaled 3 -> 2 " << secondsSince(started) << " s after the rollout began (progress deadline "
            << kProgressDeadlineSeconds << " s, down window " << kDownWindowSeconds << " s)\n";
  ASSERT_TRUE(waitFor(
      [&] {
        lookAtCondition();
        return !stuck.is_null();
      },
      seconds(5)))
      << "RolloutStuck was never True; last read: " << last;
  EXPECT_EQ(stuck["reason"], "ProgressDeadlineExceeded");
  EXPECT_NE(stuck["message"].get<std::string>().find("timed out progressing"), std::string::npos) << stuck;
  auto events = h().events("api-gateway", {"RolloutStuck"});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "Warning");
  EXPECT_NE(events[0]["message"].get<std::string>().find("ProgressDeadlineExceeded"), std::string::npos);

  undoRollout();
  ASSERT_TRUE(
      waitFor([] { return h().condition("api-gateway", "RolloutStuck").value("status", "") == "False"; },
              seconds(30)));
  EXPECT_EQ(h().events("api-gateway", {"RolloutStuck"}).size(), 1u) << "one Event per stuck rollout";
  EXPECT_TRUE(
      waitFor([] { return h().livePodNames("api-gateway").size() == 2u && readyPods(2); }, seconds(30)));
}

TEST_F(OperatorOnCluster, AnInvalidSpecIsReportedAndNothingIsDone) {
  // What the CRD's schema forbids, the server refuses itself (422) ...
  auto refused = h().createPolicy(
      "refused", {{"targetRef", {{"kind", "Deployment"}, {"name", "inventory-app"}}},
                  {"maxReplicas", 2},
                  {"metrics", json::array({{{"name", "m"}, {"query", ""}, {"targetPerReplica", 0}}})}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().httpStatus(), 422) << refused.status().message();
  // ... and what only the operator checks, it reports.
  auto created = h().createPolicy(
      "inventory-app",
      {{"targetRef", {{"kind", "Deployment"}, {"name", "inventory-app"}}},
       {"minReplicas", 3},
       {"maxReplicas", 2},
       {"metrics",
        json::array({{{"name", "request_rate"}, {"query", "vector(1)"}, {"targetPerReplica", 1}},
                     {{"name", "request_rate"}, {"query", "vector(2)"}, {"targetPerReplica", 1}}})},
       {"fallbackReplicas", 5}});
  ASSERT_TRUE(created.ok()) << created.status().message();
  ASSERT_TRUE(
      waitFor([] { return h().condition("inventory-app", "Ready").value("reason", "") == "InvalidSpec"; },
              seconds(15)));
  std::string message = h().condition("inventory-app", "Ready")["message"];
  EXPECT_NE(message.find("greater than spec.maxReplicas"), std::string::npos) << message;
  EXPECT_NE(message.find("is used twice"), std::string::npos) << message;
  EXPECT_NE(message.find("spec.fallbackReplicas must lie within"), std::string::npos) << message;
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(h().replicas("inventory-app"), 1);
  EXPECT_EQ(h().events("inventory-app", {"InvalidSpec"}).size(), 1u) << "one Event, not one per resync";
}

// A real HorizontalPodAutoscaler on the same Deployment owns its count: the operator holds, says so, and
// names it. (The HPA controller itself changes nothing here: the pods request no CPU, so it has no
// utilization to act on.)
TEST_F(OperatorOnCluster, LeavesTheCountToAHorizontalPodAutoscaler) {
  const int before = h().replicas("api-gateway");
  ASSERT_EQ(before, 2);
  const std::string hpas = h().path("autoscaling", "horizontalpodautoscalers");
  ASSERT_TRUE(
      h().api()
          .create(
              hpas,
              {{"apiVersion", "autoscaling/v2"},
               {"kind", "HorizontalPodAutoscaler"},
               {"metadata", {{"name", "api-gateway-cpu"}}},
               {"spec",
                {{"scaleTargetRef",
                  {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "api-gateway"}}},
                 {"minReplicas", 1},
                 {"maxReplicas", 5},
                 {"metrics",
                  json::array({{{"type", "Resource"},
                                {"resource",
                                 {{"name", "cpu"},
                                  {"target", {{"type", "Utilization"}, {"averageUtilization", 60}}}}}}})}}}})
          .ok());
  h().exporter().set(kLoad, 25);  // recommends 3
  ASSERT_TRUE(
      waitFor([] { return h().condition("api-gateway", "ReplicasOwned").value("status", "") == "False"; },
              seconds(10)));
  std::this_thread::sleep_for(seconds(4));
  EXPECT_EQ(h().replicas("api-gateway"), before) << "scaled a Deployment that an HPA also scales";
  json owned = h().condition("api-gateway", "ReplicasOwned");
  EXPECT_EQ(owned["reason"], "OtherOwner");
  EXPECT_NE(owned.value("message", "").find("HorizontalPodAutoscaler api-gateway-cpu"), std::string::npos)
      << owned;
  auto held = h().events("api-gateway", {"ScaleHeld"});
  ASSERT_FALSE(held.empty());
  EXPECT_NE(held.back()["message"].get<std::string>().find("OtherOwner"), std::string::npos);
  EXPECT_NE(held.back()["message"].get<std::string>().find("HorizontalPodAutoscaler api-gateway-cpu"),
            std::string::npos)
      << held.back()["message"];
  EXPECT_EQ(held.back()["type"], "Warning");

  // The HPA goes: the operator owns the count again at once (its informer sees the deletion).
  ASSERT_TRUE(h().api().remove(hpas + "/api-gateway-cpu").ok());
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 3; }, seconds(15)));
  // The status is written after the /scale write of the same sync.
  EXPECT_TRUE(
      waitFor([] { return h().condition("api-gateway", "ReplicasOwned").value("status", "") == "True"; },
              seconds(5)));
  EXPECT_TRUE(waitFor([] { return readyPods(3); }, seconds(30)));
}

// The pause annotation (metadata only: no new generation): status and Events go on, the count and the
// pods are left alone.
TEST_F(OperatorOnCluster, APausedPolicyOnlyReports) {
  const int before = h().replicas("api-gateway");
  ASSERT_EQ(before, 3);
  const std::string policy = h().path("platform.movies.dev", "servicepolicies", "api-gateway");
  const std::size_t heldBefore = h().events("api-gateway", {"ScaleHeld"}).size();
  ASSERT_TRUE(
      h().api().mergePatch(policy, {{"metadata", {{"annotations", {{kPausedAnnotation, "true"}}}}}}).ok());
  h().exporter().set(kLoad, 15);  // recommends 2
  ASSERT_TRUE(waitFor([&] { return heldFor("Paused", heldBefore); }, seconds(10)));
  std::this_thread::sleep_for(seconds(kDownWindowSeconds + 3));
  EXPECT_EQ(h().replicas("api-gateway"), before) << "a paused policy scaled";
  json paused = h().condition("api-gateway", "Paused");
  EXPECT_EQ(paused["status"], "True");
  EXPECT_EQ(paused["reason"], "PausedByAnnotation");
  EXPECT_NE(h().condition("api-gateway", "Ready")["message"].get<std::string>().find("Paused"),
            std::string::npos);

  ASSERT_TRUE(
      h().api().mergePatch(policy, {{"metadata", {{"annotations", {{kPausedAnnotation, nullptr}}}}}}).ok());
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Paused").value("status", "") == "False"; },
                      seconds(10)));
  ASSERT_TRUE(waitFor([] { return h().replicas("api-gateway") == 2; }, seconds(25)));
}

TEST_F(OperatorOnCluster, HoldsWhenPrometheusIsDown) {
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
  auto held = h().events("api-gateway", {"ScaleHeld"});
  ASSERT_FALSE(held.empty());
  EXPECT_NE(held.back()["message"].get<std::string>().find("MetricsUnavailable"), std::string::npos);
  EXPECT_EQ(held.back()["type"], "Warning");
  EXPECT_EQ(h().condition("api-gateway", "Ready")["lastTransitionTime"], readySince_);
}

// RBAC as the real server applies it: every request the API server's audit log shows from the
// operator's ServiceAccount, reads and writes, is granted by the rules file and was allowed; every verb
// the file grants was used (Events excepted: the cluster's audit policy does not record them; their
// creation is checked above); and no request of the whole run was refused (no 403 in the operator log).
TEST_F(OperatorOnCluster, RbacRequestsAsTheServerSawThem) {
  json rules = loadYamlAsJson(sourcePath("charts/movie-platform/files/operator-rbac-rules.yaml"));
  std::set<std::tuple<std::string, std::string, std::string>> granted;
  for (const auto& [verb, group, resource] : rbacGrants(rules)) {
    if (resource != "events") {
      granted.emplace(verb, group, resource);
    }
  }
  std::set<std::tuple<std::string, std::string, std::string>> used;
  std::vector<std::string> forbidden;
  for (const json& record : h().operatorRequests(true)) {
    const json& ref = record["objectRef"];
    std::string resource = ref.value("resource", "");
    if (!ref.value("subresource", "").empty()) {
      resource += "/" + ref.value("subresource", "");
    }
    used.emplace(record.value("verb", ""), ref.value("apiGroup", ""), resource);
    if (record.value("responseStatus", json::object()).value("code", 0) == 403) {
      forbidden.push_back(record.value("verb", "") + " " + record.value("requestURI", ""));
    }
  }
  EXPECT_TRUE(forbidden.empty()) << forbidden.size()
                                 << " requests refused with 403, the first: " << forbidden.front();
  ASSERT_FALSE(used.empty()) << "no request of " << h().operatorUser() << " in the audit log";
  for (const auto& [verb, group, resource] : used) {
    EXPECT_TRUE(granted.count({verb, group, resource}))
        << "used but not granted: " << verb << " " << group << "/" << resource;
  }
  for (const auto& [verb, group, resource] : granted) {
    EXPECT_TRUE(used.count({verb, group, resource}))
        << "granted but never used: " << verb << " " << group << "/" << resource;
  }
  auto refused = forbiddenLines(operator_->log());
  EXPECT_TRUE(refused.empty()) << refused.size() << " refused requests, the first: " << refused.front();
}

TEST_F(OperatorOnCluster, StopsOnSigtermAndReleasesTheLease) {
  ASSERT_EQ(h().leaseHolder(), "it-1");
  int status = operator_->stop(SIGTERM, seconds(15));
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto lease = h().api().get(h().path("coordination.k8s.io", "leases", "platform-operator"));
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease.value()["spec"].value("holderIdentity", "?"), "");
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

// The real server ends every watch after the timeoutSeconds the client asks for (--watch-timeout); the
// operator must watch again, or it would only see spec changes at its next resync (an hour here).
TEST(OperatorWatchOnCluster, WatchesAgainAfterTheServerEndsTheWatchAndSeesSpecChanges) {
  auto harness = harnessWithOnePolicy(json::object());
  ASSERT_TRUE(harness != nullptr) << setupFailure();
  ClusterHarness& h = *harness;
  auto op =
      h.startOperator("watch-1", {"--sync-period", "1h", "--watch-timeout", "2s", "--metrics-port", "0"});
  auto observed = [&] {
    return h.policy("api-gateway").value("status", json::object()).value("observedGeneration", int64_t{0});
  };
  ASSERT_TRUE(waitFor([&] { return observed() == 1; }, seconds(20))) << tail(op->log(), 4000);
  // Three watch timeouts later, every watch the operator opened at start has been ended by the server.
  for (int change = 1; change <= 2; ++change) {
    std::this_thread::sleep_for(seconds(6));
    h.patchPolicySpec("api-gateway", {{"maxReplicas", 3 + change}});
    const int64_t generation = h.policy("api-gateway")["metadata"]["generation"];
    auto start = Clock::now();
    ASSERT_TRUE(waitFor([&] { return observed() == generation; }, seconds(10)))
        << "spec change " << change << " not seen: " << tail(op->log(), 4000);
    std::cout << "spec change " << change << " seen " << secondsSince(start) << " s after the write\n";
    EXPECT_EQ(h.condition("api-gateway", "Ready")["observedGeneration"], generation);
  }
  EXPECT_TRUE(forbiddenLines(op->log()).empty()) << tail(op->log(), 4000);
}

// Every connection of the operator cut at once, the watch streams mid-stream, through a TCP proxy in
// front of the real server (a real server does not drop its streams on demand): the operator must
// watch again, and see a spec change made after the cut, long before its next resync (an hour here).
TEST(OperatorWatchOnCluster, WatchesAgainAfterItsConnectionsAreCutMidStream) {
  auto harness = harnessWithOnePolicy(json::object());
  ASSERT_TRUE(harness != nullptr) << setupFailure();
  ClusterHarness& h = *harness;
  mp::test::TcpProxy proxy(static_cast<uint16_t>(h.apiServerPort()));
  h.routeOperatorsThrough(proxy.port());
  auto op = h.startOperator("cut-1", {"--sync-period", "1h", "--metrics-port", "0"});
  auto observed = [&] {
    return h.policy("api-gateway").value("status", json::object()).value("observedGeneration", int64_t{0});
  };
  ASSERT_TRUE(waitFor([&] { return observed() == 1; }, seconds(20))) << tail(op->log(), 4000);
  std::this_thread::sleep_for(seconds(1));
  const int connectionsBefore = proxy.connectionsAccepted();
  proxy.closeAll();
  std::this_thread::sleep_for(seconds(1));
  h.patchPolicySpec("api-gateway", {{"maxReplicas", 4}});
  const int64_t generation = h.policy("api-gateway")["metadata"]["generation"];
  auto start = Clock::now();
  ASSERT_TRUE(waitFor([&] { return observed() == generation; }, seconds(15)))
      << "the spec change after the cut was not seen: " << tail(op->log(), 4000);
  std::cout << "spec change after the cut seen " << secondsSince(start) << " s after the write; "
            << proxy.connectionsAccepted() - connectionsBefore << " new connections\n";
  EXPECT_GT(proxy.connectionsAccepted(), connectionsBefore);
  EXPECT_NE(op->log().find("watch failed"), std::string::npos) << tail(op->log(), 4000);
}

// Two operator processes: only the Lease holder writes; when it is killed the other takes over within
// 20 s (15 s lease, 2 s retry) and acts; the audit log shows that the two never wrote in the same period;
// a leader whose Lease is taken by someone else stops writing.
TEST(OperatorLeaderElectionOnCluster, OnlyTheHolderWritesAndTheOtherTakesOverWhenItDies) {
  auto harness = harnessWithOnePolicy({{"scaleDownStabilizationSeconds", 2}});
  ASSERT_TRUE(harness != nullptr) << setupFailure();
  ClusterHarness& h = *harness;
  auto writesBy = [&](const std::string& identity) {
    std::vector<json> out;
    for (const json& record : h.operatorWrites()) {
      if (identityOf(record) == identity) {
        out.push_back(record);
      }
    }
    return out;
  };
  const std::vector<std::string> flags = {"--sync-period", "1s", "--leader-elect", "--metrics-port", "0"};
  auto a = h.startOperator("op-a", flags);
  ASSERT_TRUE(waitFor([&] { return h.leaseHolder() == "op-a"; }, seconds(15))) << tail(a->log(), 4000);
  auto b = h.startOperator("op-b", flags);
  auto dump = [&] {
    return "--- op-a ---\n" + tail(a->log(), 3000) + "\n--- op-b ---\n" + tail(b->log(), 3000);
  };

  h.exporter().set(kLoad, 25);
  ASSERT_TRUE(waitFor([&] { return h.replicas("api-gateway") == 3; }, seconds(20))) << dump();
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(h.leaseHolder(), "op-a");
  EXPECT_FALSE(writesBy("op-a").empty());
  EXPECT_TRUE(writesBy("op-b").empty()) << "the standby wrote: " << writesBy("op-b").front().dump();
  const auto requests = h.operatorRequests(true);
  EXPECT_TRUE(std::any_of(requests.begin(), requests.end(), [](const json& r) {
    return identityOf(r) == "op-b" && r["objectRef"].value("resource", "") == "leases";
  })) << "the standby does not keep reading the Lease";

  // Kill the leader without letting it release the Lease; the load falls meanwhile.
  h.exporter().set(kLoad, 12);  // recommends 2
  auto killed = Clock::now();
  a->stop(SIGKILL);
  ASSERT_TRUE(waitFor([&] { return h.leaseHolder() == "op-b"; }, seconds(25))) << dump();
  double takeover = secondsSince(killed);
  std::cout << "op-b held the Lease " << takeover << " s after op-a was killed\n";
  EXPECT_LE(takeover, 20.0);
  ASSERT_TRUE(waitFor([&] { return h.replicas("api-gateway") == 2; }, seconds(15))) << dump();
  std::cout << "op-b scaled 3 -> 2 " << secondsSince(killed) << " s after op-a was killed\n";

  // The audit trail: every write of op-a came before every write of op-b.
  auto aWrites = writesBy("op-a");
  auto bWrites = writesBy("op-b");
  ASSERT_FALSE(aWrites.empty());
  ASSERT_FALSE(bWrites.empty());
  auto received = [](const json& r) { return parseRfc3339(r.value("requestReceivedTimestamp", "")); };
  auto lastA = received(aWrites.back());
  auto firstB = received(bWrites.front());
  ASSERT_TRUE(lastA && firstB);
  EXPECT_LT(*lastA, *firstB) << "op-a and op-b wrote in the same period";
  bool bScaled = std::any_of(bWrites.begin(), bWrites.end(), [](const json& r) {
    return r["objectRef"].value("subresource", "") == "scale";
  });
  EXPECT_TRUE(bScaled) << "the audit log has no /scale write by op-b";

  // Someone else takes the Lease and keeps renewing it: op-b must stop writing.
  const std::string lease = h.path("coordination.k8s.io", "leases", "platform-operator");
  std::atomic<bool> stopIntruder{false};
  std::thread intruder([&] {
    while (!stopIntruder) {
      h.api().mergePatch(lease, {{"spec",
                                  {{"holderIdentity", "intruder"},
                                   {"renewTime", formatRfc3339(WallClock::now(), true)},
                                   {"leaseDurationSeconds", 15}}}});
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  std::this_thread::sleep_for(seconds(3));
  const std::size_t writesAfterLoss = writesBy("op-b").size();
  h.exporter().set(kLoad, 30);  // would scale 2 -> 3
  std::this_thread::sleep_for(seconds(5));
  stopIntruder = true;
  intruder.join();
  EXPECT_EQ(h.replicas("api-gateway"), 2) << "a leader that lost its Lease still scaled";
  EXPECT_EQ(writesBy("op-b").size(), writesAfterLoss);
  EXPECT_NE(b->log().find("lost leadership"), std::string::npos) << dump();
  EXPECT_TRUE(forbiddenLines(a->log() + b->log()).empty()) << dump();
}

}  // namespace
}  // namespace mp::op::test
