// Two real platform-operator processes against one API double: only the Lease holder acts; when it is
// killed the other takes over within 20 s (default 15 s lease, 10 s renew deadline, 2 s retry); a leader
// whose Lease is taken stops acting at once.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <optional>
#include <thread>

#include "operator_harness.h"

namespace mp::op::test {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const std::string kLoad = "app_requests_per_second{service=\"api-gateway\"}";
const std::string kLease = "/apis/coordination.k8s.io/v1/namespaces/default/leases/platform-operator";

std::string agentOf(const std::string& identity) {
  return "platform-operator/0.1 (" + identity + ")";
}

class LeaderElection : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.exporter().set(kLoad, 5);
    ASSERT_TRUE(h_.prometheus().waitForData("app_requests_per_second", seconds(20)));
    h_.createDeployment("api-gateway", 1);
    h_.createPolicy("api-gateway", {{"targetRef", {{"kind", "Deployment"}, {"name", "api-gateway"}}},
                                    {"minReplicas", 1},
                                    {"maxReplicas", 3},
                                    {"metrics", json::array({{{"name", "request_rate"},
                                                              {"query", "sum(app_requests_per_second)"},
                                                              {"targetPerReplica", 10}}})},
                                    {"behavior", {{"scaleDownStabilizationSeconds", 2}}}});
  }

  void TearDown() override {
    if (HasFailure()) {
      for (auto* p : {a_.get(), b_.get()}) {
        if (p != nullptr) {
          std::string log = p->log();
          std::cerr << "--- " << p->logFile() << " ---\n"
                    << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
        }
      }
    }
  }

  std::string holder() {
    auto lease = h_.api().getObject(kLease);
    return lease ? (*lease)["spec"].value("holderIdentity", "") : "";
  }

  OperatorHarness h_;
  std::unique_ptr<ChildProcess> a_;
  std::unique_ptr<ChildProcess> b_;
};

TEST_F(LeaderElection, OnlyTheHolderActsAndTheOtherTakesOverWhenItDies) {
  const std::vector<std::string> flags = {"--sync-period", "1s", "--leader-elect", "--metrics-port", "0"};
  a_ = h_.startOperator("op-a", flags);
  ASSERT_TRUE(waitFor([&] { return holder() == "op-a"; }, seconds(10)));
  b_ = h_.startOperator("op-b", flags);

  h_.exporter().set(kLoad, 25);
  ASSERT_TRUE(waitFor([&] { return h_.replicas("api-gateway") == 3; }, seconds(20)));
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(holder(), "op-a");
  EXPECT_GT(h_.api().writeCount(agentOf("op-a")), 0);
  EXPECT_EQ(h_.api().writeCount(agentOf("op-b")), 0) << "the standby wrote something";
  EXPECT_FALSE(h_.api().usage(agentOf("op-b")).empty()) << "the standby keeps trying for the Lease";

  // Kill the leader without letting it release the Lease; the load falls meanwhile.
  h_.exporter().set(kLoad, 12);  // recommends 2
  auto killed = Clock::now();
  a_->stop(SIGKILL);
  ASSERT_TRUE(waitFor([&] { return holder() == "op-b"; }, seconds(25)));
  double takeover = std::chrono::duration<double>(Clock::now() - killed).count();
  std::cout << "op-b held the Lease " << takeover << " s after op-a was killed\n";
  EXPECT_LE(takeover, 20.0);
  ASSERT_TRUE(waitFor([&] { return h_.replicas("api-gateway") == 2; }, seconds(15)));
  std::cout << "op-b scaled 3 -> 2 " << std::chrono::duration<double>(Clock::now() - killed).count()
            << " s after op-a was killed\n";
  EXPECT_GT(h_.api().writeCount(agentOf("op-b")), 0);

  // Someone else takes the Lease (and keeps renewing it): op-b must stop acting within a retry period.
  std::atomic<bool> stopIntruder{false};
  std::thread intruder([&] {
    while (!stopIntruder) {
      h_.api().updateObject(kLease, [](json& lease) {
        lease["spec"]["holderIdentity"] = "intruder";
        lease["spec"]["renewTime"] = "2026-01-01T00:00:00.000000Z";
        lease["spec"]["leaseDurationSeconds"] = 15;
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  });
  std::this_thread::sleep_for(seconds(3));
  int writesAfterLoss = h_.api().writeCount(agentOf("op-b"));
  h_.exporter().set(kLoad, 30);  // would scale 2 -> 3
  std::this_thread::sleep_for(seconds(5));
  stopIntruder = true;
  intruder.join();
  EXPECT_EQ(h_.replicas("api-gateway"), 2) << "a leader that lost its Lease still scaled";
  EXPECT_EQ(h_.api().writeCount(agentOf("op-b")), writesAfterLoss);
  EXPECT_NE(b_->log().find("lost leadership"), std::string::npos);
}

// Fencing: a write must be over before the Lease could pass to someone else, i.e. by the start of the
// renewal request that last succeeded plus leaseDuration. The API double answers each Lease renewal 1 s
// after writing it (so "when the answer came" is 1 s too late) and holds the answer to a /scale write for
// 15 s (longer than the client's 10 s HTTP timeout).
TEST_F(LeaderElection, AWriteNeverOutlivesTheLease) {
  using std::chrono::milliseconds;
  const auto leaseDuration = seconds(4);
  h_.api().delayAnswers("POST", "/leases", milliseconds(1000));  // taking the Lease
  h_.api().delayAnswers("PUT", "/leases/platform-operator", milliseconds(1000));
  h_.api().delayAnswers("PUT", "/deployments/api-gateway/scale", seconds(15));
  a_ = h_.startOperator("op-a", {"--sync-period", "1s", "--leader-elect", "--lease-duration", "4s",
                                 "--renew-deadline", "3s", "--retry-period", "500ms", "--metrics-port", "0"});
  ASSERT_TRUE(waitFor([&] { return holder() == "op-a"; }, seconds(10)));
  h_.exporter().set(kLoad, 25);  // recommends 3: the operator writes /scale

  FakeKubeApi::Timing scale;
  ASSERT_TRUE(waitFor(
      [&] {
        for (const auto& t : h_.api().timings()) {
          if (t.path.find("/scale") != std::string::npos) {
            scale = t;
            return true;
          }
        }
        return false;
      },
      seconds(30)))
      << "no /scale write ended";
  // The renewals that had been answered when the write started: the latest of them fences the write.
  std::optional<Clock::time_point> renewalSent;
  for (const auto& t : h_.api().timings()) {
    if (t.path.find("/leases") != std::string::npos && !t.clientGaveUp && t.ended < scale.arrived &&
        (!renewalSent || t.arrived > *renewalSent)) {
      renewalSent = t.arrived;
    }
  }
  ASSERT_TRUE(renewalSent) << "no Lease renewal was answered before the /scale write";
  const auto leaseEnd = *renewalSent + leaseDuration;
  auto ms = [](Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); };
  std::cout << "the /scale write was abandoned after " << ms(scale.ended - scale.arrived)
            << " ms; the Lease had " << ms(leaseEnd - scale.arrived) << " ms left when it started\n";
  EXPECT_TRUE(scale.clientGaveUp);
  // 200 ms for the double to notice the closed connection.
  EXPECT_LE(ms(scale.ended - leaseEnd), 200)
      << "the write outlived the Lease by " << ms(scale.ended - leaseEnd) << " ms";
}

}  // namespace
}  // namespace mp::op::test
