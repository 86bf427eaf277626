#include "policy/scaling_policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <limits>
#include <random>

namespace mp::op {
namespace {

using std::chrono::seconds;

SteadyTime at(int64_t secondsFromStart) {
  return SteadyTime() + seconds(1000000 + secondsFromStart);
}

ServicePolicySpec baseSpec() {
  ServicePolicySpec spec;
  spec.targetRef = {"Deployment", "api-gateway"};
  spec.minReplicas = 1;
  spec.maxReplicas = 3;
  spec.metrics = {{"request_rate", "sum(rate(x[1m]))", 10}};
  spec.behavior.scaleUpStabilizationSeconds = 0;
  spec.behavior.scaleDownStabilizationSeconds = 0;
  spec.behavior.tolerance = 0.1;
  return spec;
}

ScaleInput input(int32_t current, std::vector<std::optional<double>> values, int32_t ready = -1) {
  ScaleInput in;
  in.currentReplicas = current;
  in.readyReplicas = ready < 0 ? current : ready;
  for (std::size_t i = 0; i < values.size(); ++i) {
    in.readings.push_back({"m" + std::to_string(i), values[i], values[i] ? "" : "Prometheus unreachable"});
  }
  return in;
}

TEST(RecommendReplicas, IsTheCeilingOfTotalOverTarget) {
  struct Case {
    double value;
    double target;
    int32_t expected;
  } cases[] = {
      {0, 10, 0},
      {10, 10, 1},
      {10.01, 10, 2},
      {25, 10, 3},
      {-4, 10, 0},
      {5, 0, 0},
      {1, 0.5, 2},
      {999, 1000, 1},
      {std::nan(""), 10, 0},
      {std::numeric_limits<double>::infinity(), 1, std::numeric_limits<int32_t>::max()},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(recommendReplicas(c.value, c.target), c.expected) << c.value << "/" << c.target;
  }
}

TEST(WithinTolerance, ComparesLoadPerReadyReplicaWithTheTarget) {
  EXPECT_TRUE(withinTolerance(20, 10, 2, 0.1));
  EXPECT_TRUE(withinTolerance(21.9, 10, 2, 0.1));
  EXPECT_FALSE(withinTolerance(22.1, 10, 2, 0.1));
  EXPECT_TRUE(withinTolerance(18.1, 10, 2, 0.1));
  EXPECT_FALSE(withinTolerance(17.9, 10, 2, 0.1));
  EXPECT_FALSE(withinTolerance(10, 10, 0, 0.1)) << "no ready pod: nothing is within tolerance";
}

// One decision from a fresh policy: the table of rules, including every safety rule.
struct DecisionCase {
  const char* name;
  std::function<void(ServicePolicySpec&)> adjust;
  ScaleInput in;
  int32_t desired;
  bool scale;
  const char* reason;
  bool metricsAvailable;
  const char* limitedReason;  // "" when not limited
};

class FirstDecision : public ::testing::TestWithParam<DecisionCase> {};

TEST_P(FirstDecision, FollowsTheRules) {
  const DecisionCase& c = GetParam();
  ServicePolicySpec spec = baseSpec();
  if (c.adjust) {
    c.adjust(spec);
  }
  spec.metrics.resize(std::max<std::size_t>(1, c.in.readings.size()), spec.metrics[0]);
  for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
    spec.metrics[i].name = "m" + std::to_string(i);
  }
  ASSERT_TRUE(validatePolicySpec(spec).empty());
  ScalingPolicy policy;
  ScaleDecision d = policy.decide(spec, c.in, at(0));
  EXPECT_EQ(d.desiredReplicas, c.desired);
  EXPECT_EQ(d.scale, c.scale);
  EXPECT_EQ(d.reason, c.reason);
  EXPECT_EQ(d.metricsAvailable, c.metricsAvailable);
  EXPECT_EQ(d.limit ? d.limit->reason : std::string(), c.limitedReason);
  EXPECT_FALSE(d.message.empty());
}

const auto noChange = [](ServicePolicySpec&) {};

INSTANTIATE_TEST_SUITE_P(
    Table, FirstDecision,
    ::testing::Values(
        DecisionCase{"ScaleUp", noChange, input(1, {25.0}), 3, true, "Scaled", true, ""},
        DecisionCase{"ScaleDownWithoutWindow", noChange, input(3, {8.0}), 1, true, "Scaled", true, ""},
        DecisionCase{"WithinToleranceHolds", noChange, input(2, {21.0}), 2, false, "Steady", true, ""},
        DecisionCase{"CappedAtMax", noChange, input(1, {100.0}), 3, true, "Scaled", true, "TooManyReplicas"},
        DecisionCase{"RaisedToMin", [](ServicePolicySpec& s) { s.minReplicas = 2; }, input(2, {0.0}), 2, false,
                     "Steady", true, "TooFewReplicas"},
        DecisionCase{"LargestMetricWins", noChange, input(1, {5.0, 28.0}), 3, true, "Scaled", true, ""},
        // Safety: unreadable metrics never scale down; hold, or rise to fallbackReplicas.
        DecisionCase{"MissingMetricHoldsCurrent", noChange, input(3, {std::nullopt}), 3, false,
                     "MetricsUnavailable", false, ""},
        DecisionCase{"MissingMetricNeverBelowCurrentEvenWithLowerFallback",
                     [](ServicePolicySpec& s) { s.fallbackReplicas = 2; }, input(3, {std::nullopt}), 3, false,
                     "MetricsUnavailable", false, ""},
        DecisionCase{"MissingMetricRisesToFallback", [](ServicePolicySpec& s) { s.fallbackReplicas = 2; },
                     input(1, {std::nullopt}), 2, true, "Scaled", false, ""},
        DecisionCase{"OneMissingOtherSaysDownHolds", noChange, input(3, {std::nullopt, 1.0}), 3, false,
                     "MetricsUnavailable", false, ""},
        DecisionCase{"OneMissingOtherSaysUpScalesUp", noChange, input(1, {std::nullopt, 30.0}), 3, true, "Scaled",
                     false, ""},
        // Safety: no decision during a rollout, whatever the metrics say.
        DecisionCase{"RollingOutHolds", noChange,
                     [] {
                       ScaleInput in = input(1, {100.0});
                       in.rollingOut = true;
                       in.rolloutMessage = "1 of 2 updated";
                       return in;
                     }(),
                     1, false, "RollingOut", true, ""},
        // Another owner of the count, or a paused policy: held even above max and during a rollout.
        DecisionCase{"OtherOwnerHolds", noChange,
                     [] {
                       ScaleInput in = input(5, {100.0});
                       in.rollingOut = true;
                       in.holdReason = "OtherOwner";
                       in.holdMessage = "HorizontalPodAutoscaler gw sets the replicas";
                       return in;
                     }(),
                     5, false, "OtherOwner", true, ""},
        DecisionCase{"PausedHoldsEvenWithoutMetrics", noChange,
                     [] {
                       ScaleInput in = input(1, {std::nullopt});
                       in.holdReason = "Paused";
                       in.holdMessage = "paused by annotation";
                       return in;
                     }(),
                     1, false, "Paused", false, ""},
        // Safety: pods that are not ready do not count as carrying load.
        DecisionCase{"NotReadyPodsNotCounted", noChange, input(3, {19.5}, 2), 3, false, "Steady", true, ""},
        DecisionCase{"AllReadyPodsCounted", noChange, input(3, {19.5}, 3), 2, true, "Scaled", true, ""},
        DecisionCase{"StepLimitUp", [](ServicePolicySpec& s) { s.behavior.maxStepReplicas = 1; }, input(1, {30.0}),
                     2, true, "Scaled", true, "StepLimited"},
        DecisionCase{"StepLimitDown",
                     [](ServicePolicySpec& s) {
                       s.maxReplicas = 10;
                       s.behavior.maxStepReplicas = 2;
                     },
                     input(8, {10.0}), 6, true, "Scaled", true, "StepLimited"},
        DecisionCase{"AboveMaxByHandIsBroughtBack", noChange, input(5, {25.0}), 3, true, "Scaled", true, ""}),
    [](const ::testing::TestParamInfo<DecisionCase>& info) { return std::string(info.param.name); });

// What status and Events say: each decision's message names the counts and the metric behind it.
struct ExplainedCase {
  const char* name;
  std::function<void(ServicePolicySpec&)> adjust;
  ScaleInput in;
  const char* reason;
  const char* message;
  const char* limitMessage;    // "" when not limited
  const char* metricsMessage;  // "" when every metric was read
};

class ExplainedDecision : public ::testing::TestWithParam<ExplainedCase> {};

TEST_P(ExplainedDecision, SaysWhy) {
  const ExplainedCase& c = GetParam();
  ServicePolicySpec spec = baseSpec();
  spec.metrics = {{"m0", "q0", 10}, {"m1", "q1", 10}};
  spec.metrics.resize(c.in.readings.size());
  if (c.adjust) {
    c.adjust(spec);
  }
  ASSERT_TRUE(validatePolicySpec(spec).empty());
  ScalingPolicy policy;
  ScaleDecision d = policy.decide(spec, c.in, at(0));
  EXPECT_EQ(d.reason, c.reason);
  EXPECT_EQ(d.message, c.message);
  EXPECT_EQ(d.limit ? d.limit->message : std::string(), c.limitMessage);
  EXPECT_EQ(d.metricsMessage, c.metricsMessage);
}

ScaleInput held(ScaleInput in, const char* reason, const char* message) {
  in.holdReason = reason;
  in.holdMessage = message;
  return in;
}

ScaleInput rollingOut(ScaleInput in) {
  in.rollingOut = true;
  in.rolloutMessage = "1 of 2 updated";
  return in;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ExplainedDecision,
    ::testing::Values(
        ExplainedCase{"Scaled", noChange, input(1, {25.0}), "Scaled",
                      "scaled from 1 to 3: m0=25 (target 10 per replica, recommends 3)", "", ""},
        ExplainedCase{"Steady", noChange, input(2, {21.0}), "Steady",
                      "steady at 2: m0=21 (target 10 per replica, recommends 3)", "", ""},
        ExplainedCase{"CappedAtMax", noChange, input(1, {100.0}), "Scaled",
                      "scaled from 1 to 3: m0=100 (target 10 per replica, recommends 10)",
                      "recommendation 10 capped at maxReplicas 3", ""},
        ExplainedCase{"RaisedToMin", [](ServicePolicySpec& s) { s.minReplicas = 2; }, input(2, {0.0}),
                      "Steady", "steady at 2: m0=0 (target 10 per replica, recommends 0)",
                      "recommendation 0 raised to minReplicas 2", ""},
        ExplainedCase{"StepLimitedDown",
                      [](ServicePolicySpec& s) {
                        s.maxReplicas = 10;
                        s.behavior.maxStepReplicas = 2;
                      },
                      input(8, {10.0}), "Scaled",
                      "scaled from 8 to 6: m0=10 (target 10 per replica, recommends 1)",
                      "at most 2 replicas per step", ""},
        ExplainedCase{
            "FirstScaleDownWaitsAWindow",
            [](ServicePolicySpec& s) { s.behavior.scaleDownStabilizationSeconds = 60; }, input(3, {1.0}),
            "ScaleDownStabilized",
            "held at 3 (recommendation 1) by the scale-down stabilization window: m0=1 (target 10 per "
            "replica, recommends 1)",
            "", ""},
        ExplainedCase{"MetricsUnavailableHolds", noChange, input(3, {std::nullopt}), "MetricsUnavailable",
                      "metrics unavailable (m0: Prometheus unreachable); holding 3 replicas", "",
                      "m0: Prometheus unreachable"},
        ExplainedCase{
            "MetricsUnavailableRisesToFallback", [](ServicePolicySpec& s) { s.fallbackReplicas = 2; },
            input(1, {std::nullopt}), "Scaled",
            "scaled from 1 to 2: metrics unavailable (m0: Prometheus unreachable); fallbackReplicas 2", "",
            "m0: Prometheus unreachable"},
        ExplainedCase{
            "MetricsUnavailableFollowsAReadableMetricUpOneStep",
            [](ServicePolicySpec& s) { s.behavior.maxStepReplicas = 1; }, input(1, {std::nullopt, 30.0}),
            "Scaled",
            "scaled from 1 to 2: metrics unavailable (m0: Prometheus unreachable); m1=30 (target 10 per "
            "replica, recommends 3)",
            "at most 1 replicas per step", "m0: Prometheus unreachable"},
        ExplainedCase{
            "RollingOut", noChange, rollingOut(input(1, {100.0})), "RollingOut",
            "held at 1 while rolling out: 1 of 2 updated; m0=100 (target 10 per replica, recommends 10)", "",
            ""},
        ExplainedCase{"OtherOwner", noChange, held(input(5, {100.0}), "OtherOwner", "an HPA sets them"),
                      "OtherOwner",
                      "held at 5: an HPA sets them; m0=100 (target 10 per replica, recommends 10)", "", ""},
        ExplainedCase{"PausedWithoutMetrics", noChange, held(input(1, {std::nullopt}), "Paused", "paused"),
                      "Paused", "held at 1: paused", "", "m0: Prometheus unreachable"}),
    [](const ::testing::TestParamInfo<ExplainedCase>& info) { return std::string(info.param.name); });

TEST(ScalingPolicy, StabilizationHoldsSayWhichWindow) {
  ServicePolicySpec spec = baseSpec();
  spec.behavior.scaleUpStabilizationSeconds = 60;
  spec.behavior.scaleDownStabilizationSeconds = 300;
  struct Case {
    int32_t current;
    double before;  // the load at t=0, then `after` at t=10
    double after;
    const char* message;
  } cases[] = {
      {1, 10.0, 30.0,
       "held at 1 (recommendation 3) by the scale-up stabilization window: request_rate=30 (target 10 per "
       "replica, recommends 3)"},
      {3, 30.0, 15.0,
       "held at 3 (recommendation 2) by the scale-down stabilization window: request_rate=15 (target 10 per "
       "replica, recommends 2)"},
  };
  for (const Case& c : cases) {
    ScalingPolicy policy;
    policy.decide(spec, input(c.current, {c.before}), at(0));
    ScaleDecision d = policy.decide(spec, input(c.current, {c.after}), at(10));
    EXPECT_FALSE(d.scale);
    EXPECT_EQ(d.message, c.message);
  }
}

TEST(ScalingPolicy, ScaleDownWaitsForTheWholeWindowAndTakesItsHighestRecommendation) {
  ServicePolicySpec spec = baseSpec();
  spec.behavior.scaleDownStabilizationSeconds = 300;
  ScalingPolicy policy;
  EXPECT_EQ(policy.decide(spec, input(3, {30.0}), at(0)).desiredReplicas, 3);
  ScaleDecision held = policy.decide(spec, input(3, {15.0}), at(100));  // recommends 2
  EXPECT_FALSE(held.scale);
  EXPECT_EQ(held.reason, "ScaleDownStabilized");
  EXPECT_FALSE(policy.decide(spec, input(3, {5.0}), at(200)).scale);  // recommends 1
  // At 301 the recommendation of 3 (t=0) left the window; 2 (t=100) is the highest left.
  ScaleDecision down = policy.decide(spec, input(3, {5.0}), at(301));
  EXPECT_TRUE(down.scale);
  EXPECT_EQ(down.desiredReplicas, 2);
  policy.recordApplied(down, 3, at(301));
  // The recommendation of 2 leaves the window at 401, yet a second scale-down waits until 601.
  EXPECT_FALSE(policy.decide(spec, input(2, {5.0}), at(450)).scale);
  EXPECT_FALSE(policy.decide(spec, input(2, {5.0}), at(600)).scale);
  ScaleDecision second = policy.decide(spec, input(2, {5.0}), at(602));
  EXPECT_TRUE(second.scale);
  EXPECT_EQ(second.desiredReplicas, 1);
}

TEST(ScalingPolicy, ScaleUpWindowTakesTheLowestRecommendation) {
  ServicePolicySpec spec = baseSpec();
  spec.behavior.scaleUpStabilizationSeconds = 60;
  ScalingPolicy policy;
  EXPECT_FALSE(policy.decide(spec, input(1, {10.0}), at(0)).scale);
  ScaleDecision held = policy.decide(spec, input(1, {30.0}), at(10));
  EXPECT_FALSE(held.scale);
  EXPECT_EQ(held.reason, "ScaleUpStabilized");
  ScaleDecision up = policy.decide(spec, input(1, {30.0}), at(61));
  EXPECT_TRUE(up.scale);
  EXPECT_EQ(up.desiredReplicas, 3);
}

TEST(ScalingPolicy, AFreshPolicyWatchesAWholeWindowBeforeItsFirstScaleDown) {
  // A new leader has no history: a single low reading must not scale down at once.
  ServicePolicySpec spec = baseSpec();
  spec.behavior.scaleDownStabilizationSeconds = 60;
  ScalingPolicy policy;
  EXPECT_FALSE(policy.decide(spec, input(3, {1.0}), at(0)).scale);
  EXPECT_FALSE(policy.decide(spec, input(3, {1.0}), at(59)).scale);
  EXPECT_TRUE(policy.decide(spec, input(3, {1.0}), at(60)).scale);
}

TEST(ScalingPolicy, AnOutageCountsAsHoldingSoRecoveryDoesNotDropAtOnce) {
  ServicePolicySpec spec = baseSpec();
  spec.behavior.scaleDownStabilizationSeconds = 60;
  ScalingPolicy policy;
  EXPECT_FALSE(policy.decide(spec, input(3, {30.0}), at(0)).scale);
  for (int t = 15; t <= 120; t += 15) {
    EXPECT_FALSE(policy.decide(spec, input(3, {std::nullopt}), at(t)).scale);
  }
  EXPECT_FALSE(policy.decide(spec, input(3, {1.0}), at(135)).scale) << "the outage held 3 until t=120";
  EXPECT_TRUE(policy.decide(spec, input(3, {1.0}), at(181)).scale);
}

// The phases of decide(), each on its own.

TEST(ScalingPhases, ProposeFromMetricsTakesTheLargestAndListsTheMissing) {
  ServicePolicySpec spec = baseSpec();
  spec.metrics = {{"a", "qa", 10}, {"b", "qb", 10}, {"c", "qc", 10}};
  struct Case {
    ScaleInput in;
    std::optional<int32_t> replicas;
    const char* driver;
    std::size_t missing;
  } cases[] = {
      {input(1, {25.0, 5.0, 12.0}), 3, "a=25 (target 10 per replica, recommends 3)", 0},
      {input(2, {21.0, 5.0, 1.0}), 2, "a=21 (target 10 per replica, recommends 3)", 0},  // a within tolerance
      {input(2, {std::nullopt, 5.0, std::nullopt}), 1, "b=5 (target 10 per replica, recommends 1)", 2},
      {input(2, {std::nullopt, std::nullopt}), std::nullopt, "", 3},  // no reading for c: "no value"
  };
  for (const Case& c : cases) {
    MetricProposals p = proposeFromMetrics(spec, c.in);
    EXPECT_EQ(p.replicas, c.replicas);
    EXPECT_EQ(p.driver, c.driver);
    EXPECT_EQ(p.missing.size(), c.missing);
    EXPECT_EQ(p.metrics.size(), 3u);
  }
  EXPECT_EQ(proposeFromMetrics(spec, input(2, {std::nullopt, std::nullopt})).missing.back(), "c: no value");
}

TEST(ScalingPhases, HoldForAnOwnerOrPauseBeforeARollout) {
  struct Case {
    ScaleInput in;
    const char* driver;
    const char* reason;  // "" when nothing holds
    const char* message;
  } cases[] = {
      {input(2, {}), "m=1", "", ""},
      {held(input(2, {}), "Paused", "paused"), "m=1", "Paused", "held at 2: paused; m=1"},
      {held(rollingOut(input(2, {})), "OtherOwner", "an HPA"), "", "OtherOwner", "held at 2: an HPA"},
      {rollingOut(input(2, {})), "m=1", "RollingOut", "held at 2 while rolling out: 1 of 2 updated; m=1"},
  };
  for (const Case& c : cases) {
    std::optional<ScaleHold> hold = holdFor(c.in, c.driver);
    EXPECT_EQ(hold ? hold->reason : "", c.reason);
    EXPECT_EQ(hold ? hold->message : "", c.message);
  }
}

TEST(ScalingPhases, WithMissingMetricsTheCountNeverFalls) {
  struct Case {
    int32_t min, max;
    std::optional<int32_t> fallback;
    int32_t current;
    std::optional<int32_t> proposal;
    int32_t replicas;
    const char* because;
  } cases[] = {
      {1, 3, std::nullopt, 2, std::nullopt, 2, "holding 2 replicas"},
      {1, 3, std::nullopt, 3, 1, 3, "holding 3 replicas"},
      {1, 3, 2, 1, std::nullopt, 2, "fallbackReplicas 2"},
      {1, 3, 2, 3, std::nullopt, 3, "holding 3 replicas"},
      {1, 3, 2, 1, 3, 3, "m=30"},
      {1, 3, 5, 1, std::nullopt, 3, "fallbackReplicas 5"},  // capped at max, with no limit reason
      {1, 3, std::nullopt, 5, 9, 5, "m=30"},                // above max by hand: not lowered either
      {2, 3, std::nullopt, 1, std::nullopt, 2, "holding 1 replicas"},
  };
  for (const Case& c : cases) {
    ServicePolicySpec spec = baseSpec();
    spec.minReplicas = c.min;
    spec.maxReplicas = c.max;
    spec.fallbackReplicas = c.fallback;
    MetricProposals proposals;
    proposals.replicas = c.proposal;
    proposals.driver = "m=30";
    ReplicaTarget t = targetWithMissingMetrics(spec, c.current, proposals);
    EXPECT_EQ(t.replicas, c.replicas) << c.because;
    EXPECT_EQ(t.because, c.because);
    EXPECT_FALSE(t.limit);
  }
}

TEST(ScalingPhases, ClampToRangeSaysWhichBound) {
  ServicePolicySpec spec = baseSpec();
  spec.minReplicas = 2;
  spec.maxReplicas = 4;
  struct Case {
    int32_t proposal;
    int32_t replicas;
    const char* limit;
  } cases[] = {{1, 2, "TooFewReplicas"}, {2, 2, ""}, {4, 4, ""}, {5, 4, "TooManyReplicas"}};
  for (const Case& c : cases) {
    ReplicaTarget t = clampToRange(spec, c.proposal, "m");
    EXPECT_EQ(t.replicas, c.replicas);
    EXPECT_EQ(t.limit ? t.limit->reason : "", c.limit);
    EXPECT_EQ(t.because, "m");
  }
}

TEST(ScalingPhases, StabilizeKeepsWithinTheWindowsRecommendations) {
  BehaviorSpec behavior;
  behavior.scaleUpStabilizationSeconds = 60;
  behavior.scaleDownStabilizationSeconds = 300;
  // Recommended 4 at t=0, 2 at t=200, 3 at t=250; decided at t=280 (in the up window: 3 only).
  const std::deque<Recommendation> history = {{at(0), 4}, {at(200), 2}, {at(250), 3}};
  struct Case {
    int32_t recommended;
    int32_t current;
    int32_t replicas;
    const char* holdReason;
  } cases[] = {
      {1, 4, 4, "ScaleDownStabilized"},  // down only to the window's highest, 4
      {5, 2, 3, "ScaleUpStabilized"},    // up only to the up window's lowest, 3
      {4, 4, 4, ""},
      {3, 5, 4, "ScaleDownStabilized"},  // from above the window: down to its highest, 4
  };
  for (const Case& c : cases) {
    Stabilized s = stabilize(history, c.recommended, c.current, behavior, at(280));
    EXPECT_EQ(s.replicas, c.replicas) << c.recommended << " from " << c.current;
    EXPECT_EQ(s.holdReason, c.holdReason);
  }
}

TEST(ScalingPhases, LimitStepBothWays) {
  BehaviorSpec behavior;
  behavior.maxStepReplicas = 2;
  struct Case {
    int32_t replicas, current, limited;
    bool stepLimited;
  } cases[] = {{9, 3, 5, true}, {5, 3, 5, false}, {1, 3, 1, false}, {1, 8, 6, true}, {3, 3, 3, false}};
  for (const Case& c : cases) {
    ReplicaTarget t = limitStep({c.replicas, "m", std::nullopt}, c.current, behavior);
    EXPECT_EQ(t.replicas, c.limited);
    EXPECT_EQ(t.limit.has_value(), c.stepLimited);
  }
  behavior.maxStepReplicas = 0;
  EXPECT_EQ(limitStep({9, "m", std::nullopt}, 1, behavior).replicas, 9) << "0: no step limit";
}

// Two simulated hours of a noisy, oscillating load, decided every 15 s like the operator's resync.
TEST(ScalingPolicySimulation, TracksAnOscillatingLoadWithAtMostOneScaleDownPerWindow) {
  ServicePolicySpec spec = baseSpec();
  spec.minReplicas = 1;
  spec.maxReplicas = 10;
  spec.metrics = {{"request_rate", "q", 100}};
  spec.behavior.scaleDownStabilizationSeconds = 300;
  spec.behavior.scaleUpStabilizationSeconds = 0;
  spec.behavior.tolerance = 0.1;
  const int kStep = 15;
  const int kWindow = 300;
  std::mt19937 random(42);
  std::normal_distribution<double> noise(0.0, 40.0);
  ScalingPolicy policy;
  int32_t replicas = 1;
  std::vector<int> scaleDowns;
  int scaleUps = 0;
  std::deque<std::pair<int, int32_t>> needed;  // (time, replicas the load needs)
  for (int t = 0; t <= 7200; t += kStep) {
    // 1 to 9 replicas' worth over a 20-minute wave, a faster 3-minute ripple, and noise.
    double load =
        500 + 400 * std::sin(2 * M_PI * t / 1200.0) + 120 * std::sin(2 * M_PI * t / 180.0) + noise(random);
    load = std::max(0.0, load);
    int32_t need = std::clamp(recommendReplicas(load, 100), spec.minReplicas, spec.maxReplicas);
    needed.emplace_back(t, need);
    while (needed.front().first < t - 2 * kWindow - 2 * kStep) {
      needed.pop_front();
    }
    ScaleDecision d = policy.decide(spec, input(replicas, {load}), at(t));
    if (d.scale) {
      policy.recordApplied(d, replicas, at(t));
      if (d.desiredReplicas < replicas) {
        scaleDowns.push_back(t);
      } else {
        ++scaleUps;
      }
      replicas = d.desiredReplicas;
    }
    ASSERT_GE(replicas, spec.minReplicas);
    ASSERT_LE(replicas, spec.maxReplicas);
    // Enough capacity right away (up window 0), allowing the tolerance band.
    ASSERT_GE(replicas * 100 * (1 + spec.behavior.tolerance), std::min(load, 100.0 * spec.maxReplicas))
        << "t=" << t << " load=" << load;
    // Never more than what the load needed within about two windows (+1 for the tolerance band).
    int32_t recentNeed = 0;
    for (const auto& [time, n] : needed) {
      recentNeed = std::max(recentNeed, n);
    }
    ASSERT_LE(replicas, recentNeed + 1) << "t=" << t;
  }
  for (std::size_t i = 1; i < scaleDowns.size(); ++i) {
    EXPECT_GE(scaleDowns[i] - scaleDowns[i - 1], kWindow)
        << "two scale-downs within one window at " << scaleDowns[i];
  }
  EXPECT_GE(scaleDowns.size(), 5u) << "the load falls several times in two hours";
  EXPECT_GE(scaleUps, 5);
}

}  // namespace
}  // namespace mp::op
