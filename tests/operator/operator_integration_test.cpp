// The real platform-operator against the Kubernetes API double and a real Prometheus, only for what the
// real API server will not do when a test asks. Everything else (scaling, healing through the Eviction
// API with the minReplicas floor and a PodDisruptionBudget's 429, rollouts held and stuck past their
// progress deadline, an HPA owning the count, the pause annotation, invalid specs, Prometheus down, RBAC,
// SIGTERM, watch timeouts and cut watch streams, leader election) runs on the real server in
// operator_cluster_test.cpp. The faults the double is kept for, each named:
//   - a watch ended mid-stream by a 410 Expired ERROR event, and a resume from that resourceVersion
//     answered 410 Gone (FakeKubeApi::expireWatches; this file). A real server sends these only once
//     etcd compaction or its watch cache window has outrun the watcher, not at a moment the test picks.
//   - slow answers to chosen requests: Lease renewals answered 1 s late and a /scale write held 15 s
//     (FakeKubeApi::delayAnswers; leader_election_test.cpp, the write bounded by the Lease). A real
//     server answers when it is done, and a TCP proxy in front of it cannot tell the /scale write from
//     the others inside TLS.
// The tests are the stages of one scenario on one shared environment and run in the order written.
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


class OperatorScenario : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    harness_ = new OperatorHarness();
    harness_->exporter().set(kLoad, 5);
    ASSERT_TRUE(harness_->prometheus().waitForData("app_requests_per_second", seconds(20)));
    harness_->createDeployment("api-gateway", 1);
    harness_->createPolicy("api-gateway",
                           {{"targetRef", {{"kind", "Deployment"}, {"name", "api-gateway"}}},
                            {"minReplicas", 1},
                            {"maxReplicas", 3},
                            {"metrics", json::array({{{"name", "request_rate"},
                                                      {"query", "sum(app_requests_per_second)"},
                                                      {"targetPerReplica", 10}}})}});
    operator_ = harness_->startOperator("it-1", {"--sync-period", "1s", "--metrics-port", "0"}).release();
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
};

OperatorHarness* OperatorScenario::harness_ = nullptr;
ChildProcess* OperatorScenario::operator_ = nullptr;

TEST_F(OperatorScenario, SettlesOnTheCurrentLoad) {
  ASSERT_TRUE(waitFor([] { return h().condition("api-gateway", "Ready").value("status", "") == "True"; },
                      seconds(20)));
  EXPECT_EQ(h().replicas("api-gateway"), 1);
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
