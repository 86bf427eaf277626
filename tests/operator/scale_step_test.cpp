#include "controller/scale_step.h"

#include <gtest/gtest.h>

#include "api/conditions.h"

namespace mp::op {
namespace {

DeploymentView gateway() {
  DeploymentView target;
  target.name = "api-gateway";
  target.specReplicas = 3;
  return target;
}

TEST(ScaleInputFor, HoldsForAPauseBeforeOtherOwners) {
  const std::vector<ReplicaClaim> one = {{"HorizontalPodAutoscaler", "gw", "Deployment", "api-gateway", ""}};
  const std::vector<ReplicaClaim> two = {one[0], {"ServicePolicy", "old", "Deployment", "api-gateway", ""}};
  struct Case {
    bool paused;
    std::vector<ReplicaClaim> owners;
    std::string ownersText;
    const char* holdReason;
    const char* holdMessage;
  } cases[] = {
      {false, {}, "", "", ""},
      {true, {}, "", "Paused", "paused by the annotation platform.movies.dev/paused=true"},
      {true, one, "HorizontalPodAutoscaler gw", "Paused",
       "paused by the annotation platform.movies.dev/paused=true"},
      {false, one, "HorizontalPodAutoscaler gw", "OtherOwner",
       "HorizontalPodAutoscaler gw also sets the replicas of Deployment api-gateway; the count is left to "
       "it"},
      {false, two, "HorizontalPodAutoscaler gw, ServicePolicy old", "OtherOwner",
       "HorizontalPodAutoscaler gw, ServicePolicy old also set the replicas of Deployment api-gateway; the "
       "count is left to them"},
  };
  DeploymentView target = gateway();
  target.rollingOut = true;
  target.rolloutMessage = "1 of 3 updated";
  for (const Case& c : cases) {
    ScaleInput in = scaleInputFor(target, 2, c.paused, c.owners, c.ownersText);
    EXPECT_EQ(in.currentReplicas, 3);
    EXPECT_EQ(in.readyReplicas, 2);
    EXPECT_TRUE(in.rollingOut);
    EXPECT_EQ(in.rolloutMessage, "1 of 3 updated");
    EXPECT_EQ(in.holdReason, c.holdReason);
    EXPECT_EQ(in.holdMessage, c.holdMessage);
    EXPECT_TRUE(in.readings.empty());
  }
}

// The five conditions of a scaling pass: type, status and reason as each finding turns them.
struct ConditionsCase {
  const char* name;
  bool paused;
  bool otherOwners;
  bool rolloutStuck;
  bool metricsAvailable;
  std::optional<ScaleDecision::Limit> limit;
  const char* expected[5][3];  // {type, status, reason} in the order they are set
};

class ConditionsFor : public ::testing::TestWithParam<ConditionsCase> {};

TEST_P(ConditionsFor, ReportEachFinding) {
  const ConditionsCase& c = GetParam();
  DeploymentView target = gateway();
  target.rolloutStuck = c.rolloutStuck;
  target.rolloutMessage = "exceeded its progress deadline";
  ScaleInput input;
  input.holdMessage = "HorizontalPodAutoscaler gw also sets the replicas";
  ScaleDecision decision;
  decision.metricsAvailable = c.metricsAvailable;
  decision.metricsMessage = c.metricsAvailable ? "" : "m: connection refused";
  decision.limit = c.limit;
  const std::string metricsReason = c.metricsAvailable ? "" : "PrometheusUnreachable";
  std::vector<Condition> conditions =
      conditionsFor({target, c.paused, c.otherOwners, input, metricsReason, decision, 7});
  ASSERT_EQ(conditions.size(), 5u);
  for (std::size_t i = 0; i < conditions.size(); ++i) {
    EXPECT_EQ(conditions[i].type, c.expected[i][0]);
    EXPECT_EQ(conditions[i].status, c.expected[i][1]) << conditions[i].type;
    EXPECT_EQ(conditions[i].reason, c.expected[i][2]) << conditions[i].type;
    EXPECT_EQ(conditions[i].observedGeneration, 7);
    EXPECT_FALSE(conditions[i].message.empty()) << conditions[i].type;
    EXPECT_TRUE(conditions[i].lastTransitionTime.empty()) << "setCondition stamps it";
  }
}

const ScaleDecision::Limit kStepLimit{"StepLimited", "at most 1 replicas per step"};
const ScaleDecision::Limit kCapped{"TooManyReplicas", "recommendation 9 capped at maxReplicas 3"};

// clang-format off
INSTANTIATE_TEST_SUITE_P(Table, ConditionsFor, ::testing::Values(
    ConditionsCase{"AllWell", false, false, false, true, std::nullopt,
                   {{"MetricsAvailable", "True", "MetricsRead"}, {"Paused", "False", "NotPaused"},
                    {"ReplicasOwned", "True", "SoleOwner"}, {"RolloutStuck", "False", "NoStuckRollout"},
                    {"ScalingLimited", "False", "DesiredWithinRange"}}},
    ConditionsCase{"EverythingWrong", true, true, true, false, kStepLimit,
                   {{"MetricsAvailable", "False", "PrometheusUnreachable"}, {"Paused", "True", "PausedByAnnotation"},
                    {"ReplicasOwned", "False", "OtherOwner"}, {"RolloutStuck", "True", "ProgressDeadlineExceeded"},
                    {"ScalingLimited", "True", "StepLimited"}}},
    ConditionsCase{"OtherOwnerOnly", false, true, false, true, std::nullopt,
                   {{"MetricsAvailable", "True", "MetricsRead"}, {"Paused", "False", "NotPaused"},
                    {"ReplicasOwned", "False", "OtherOwner"}, {"RolloutStuck", "False", "NoStuckRollout"},
                    {"ScalingLimited", "False", "DesiredWithinRange"}}},
    ConditionsCase{"PausedOnly", true, false, false, true, std::nullopt,
                   {{"MetricsAvailable", "True", "MetricsRead"}, {"Paused", "True", "PausedByAnnotation"},
                    {"ReplicasOwned", "True", "SoleOwner"}, {"RolloutStuck", "False", "NoStuckRollout"},
                    {"ScalingLimited", "False", "DesiredWithinRange"}}},
    ConditionsCase{"CappedAtMax", false, false, false, true, kCapped,
                   {{"MetricsAvailable", "True", "MetricsRead"}, {"Paused", "False", "NotPaused"},
                    {"ReplicasOwned", "True", "SoleOwner"}, {"RolloutStuck", "False", "NoStuckRollout"},
                    {"ScalingLimited", "True", "TooManyReplicas"}}}),
    [](const ::testing::TestParamInfo<ConditionsCase>& info) { return std::string(info.param.name); });
// clang-format on

TEST(ConditionsFor, MessagesCarryTheFindings) {
  DeploymentView target = gateway();
  target.rolloutStuck = true;
  target.rolloutMessage = "exceeded its progress deadline";
  ScaleInput input;
  input.holdMessage = "HorizontalPodAutoscaler gw also sets the replicas";
  ScaleDecision decision;
  decision.metricsAvailable = false;
  decision.metricsMessage = "m: connection refused";
  decision.limit = ScaleDecision::Limit{"StepLimited", "at most 1 replicas per step"};
  const std::string metricsReason = "EmptyResult";
  std::vector<Condition> c = conditionsFor({target, false, true, input, metricsReason, decision, 1});
  EXPECT_EQ(c[0].message, "m: connection refused");
  EXPECT_EQ(c[0].reason, "EmptyResult");
  EXPECT_EQ(c[2].message, "HorizontalPodAutoscaler gw also sets the replicas");
  EXPECT_EQ(
      c[3].message,
      "Deployment api-gateway exceeded its progress deadline; scaling and pod restarts are no longer held "
      "for it");
  EXPECT_EQ(c[4].message, "at most 1 replicas per step");
  EXPECT_EQ(
      stuckRolloutMessage(target),
      "Deployment api-gateway exceeded its progress deadline; scaling and pod restarts resume although the "
      "rollout has not finished");
}

}  // namespace
}  // namespace mp::op
