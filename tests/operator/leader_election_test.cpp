// A real platform-operator against the Kubernetes API double, for the one leader-election fault a real
// API server will not produce when a test asks: slow answers to chosen requests (each Lease renewal
// answered 1 s after it was written, a /scale write held 15 s, FakeKubeApi::delayAnswers). A real server
// answers as soon as it is done, and a TCP proxy in front of it cannot pick the /scale write out of a
// TLS connection. The rest of leader election (only the holder writes, takeover after kill -9, a taken
// Lease stopping the writes) runs on the real server: OperatorLeaderElectionOnCluster in
// operator_cluster_test.cpp. The other fault kept on the double, a 410 Gone on a watch, is in
// operator_integration_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "operator_harness.h"

namespace mp::op::test {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

const std::string kLease = "/apis/coordination.k8s.io/v1/namespaces/default/leases/platform-operator";

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
      if (a_ != nullptr) {
        std::string log = a_->log();
        std::cerr << "--- " << a_->logFile() << " ---\n"
                  << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
      }
    }
  }

  std::string holder() {
    auto lease = h_.api().getObject(kLease);
    return lease ? (*lease)["spec"].value("holderIdentity", "") : "";
  }

  OperatorHarness h_;
  std::unique_ptr<ChildProcess> a_;
};

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
