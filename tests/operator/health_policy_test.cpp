#include "policy/health_policy.h"

#include <gtest/gtest.h>

namespace mp::op {
namespace {

SteadyTime at(int64_t s) {
  return SteadyTime() + std::chrono::seconds(1000000 + s);
}

HealthSpec spec(int64_t after = 60) {
  HealthSpec h;
  h.query = "up == 0";
  h.unhealthyAfterSeconds = after;
  return h;
}

std::vector<PodView> pods(std::initializer_list<PodView> list) {
  return list;
}

using Names = std::set<std::string>;

TEST(HealthPolicy, RestartsOnlyAfterUnhealthyForTheWholeDelay) {
  HealthPolicy policy;
  auto all = pods({{"a", true, false}, {"b", true, false}});
  EXPECT_FALSE(policy.evaluate(spec(), 1, all, Names{"a"}, at(0)).restartPod);
  HealthDecision early = policy.evaluate(spec(), 1, all, Names{"a"}, at(59));
  EXPECT_FALSE(early.restartPod);
  EXPECT_EQ(early.reason, "UnhealthyPods");
  EXPECT_EQ(early.unhealthyPods, std::vector<std::string>{"a"});
  HealthDecision due = policy.evaluate(spec(), 1, all, Names{"a"}, at(60));
  ASSERT_TRUE(due.restartPod);
  EXPECT_EQ(*due.restartPod, "a");
}

TEST(HealthPolicy, ARecoveredPodStartsItsClockAgain) {
  HealthPolicy policy;
  auto all = pods({{"a", true, false}, {"b", true, false}});
  policy.evaluate(spec(), 1, all, Names{"a"}, at(0));
  HealthDecision healthy = policy.evaluate(spec(), 1, all, Names{}, at(30));
  EXPECT_EQ(healthy.reason, "AllPodsHealthy");
  policy.evaluate(spec(), 1, all, Names{"a"}, at(40));
  EXPECT_FALSE(policy.evaluate(spec(), 1, all, Names{"a"}, at(90)).restartPod);
  EXPECT_TRUE(policy.evaluate(spec(), 1, all, Names{"a"}, at(100)).restartPod);
}

TEST(HealthPolicy, AFailedHealthQueryRestartsNothing) {
  HealthPolicy policy;
  auto all = pods({{"a", true, false}, {"b", true, false}});
  policy.evaluate(spec(), 1, all, Names{"a"}, at(0));
  HealthDecision unknown = policy.evaluate(spec(), 1, all, std::nullopt, at(120));
  EXPECT_FALSE(unknown.restartPod);
  EXPECT_FALSE(unknown.known);
  EXPECT_EQ(unknown.reason, "HealthUnknown");
  // The clock was kept: once the query answers again the pod is overdue.
  EXPECT_TRUE(policy.evaluate(spec(), 1, all, Names{"a"}, at(121)).restartPod);
}

// A restart takes the pod out of service: it may only happen when the pods still ready afterwards are at
// least minReplicas (a pod the health query flags may still be Ready and carry load).
TEST(HealthPolicy, NeverRestartsWhenThatLeavesFewerThanMinReplicasReady) {
  struct Case {
    const char* what;
    std::vector<PodView> pods;
    int32_t minReplicas;
    bool restarts;
  } cases[] = {
      {"the only pod, min 1", {{"a", true, false}}, 1, false},
      {"ready == min", {{"a", true, false}, {"b", true, false}}, 2, false},
      {"one spare ready pod", {{"a", true, false}, {"b", true, false}, {"c", true, false}}, 2, true},
      {"the victim is not ready, others meet min", {{"a", false, false}, {"b", true, false}}, 1, true},
      {"the victim is not ready, others below min", {{"a", false, false}, {"b", true, false}}, 2, false},
      {"fewer than min ready already",
       {{"a", true, false}, {"b", false, false}, {"c", false, false}},
       2,
       false},
  };
  for (const Case& c : cases) {
    HealthPolicy policy;
    policy.evaluate(spec(0), c.minReplicas, c.pods, Names{"a"}, at(0));
    HealthDecision d = policy.evaluate(spec(0), c.minReplicas, c.pods, Names{"a"}, at(10));
    EXPECT_EQ(d.restartPod.has_value(), c.restarts) << c.what;
    if (!c.restarts) {
      EXPECT_NE(d.message.find("held"), std::string::npos) << c.what << ": " << d.message;
    }
  }
}

TEST(HealthPolicy, OnePodAtATime) {
  HealthPolicy policy;
  auto all = pods({{"a", true, false}, {"b", true, false}, {"c", true, false}});
  policy.evaluate(spec(10), 1, all, Names{"a", "b"}, at(0));
  HealthDecision first = policy.evaluate(spec(10), 1, all, Names{"a", "b"}, at(10));
  ASSERT_TRUE(first.restartPod);
  policy.recordRestart(*first.restartPod, 3);
  const std::string other = *first.restartPod == "a" ? "b" : "a";
  // The victim is terminating: nothing else is touched.
  auto terminating = pods({{"a", *first.restartPod != "a", *first.restartPod == "a"},
                           {"b", *first.restartPod != "b", *first.restartPod == "b"},
                           {"c", true, false}});
  EXPECT_FALSE(policy.evaluate(spec(10), 1, terminating, Names{other}, at(11)).restartPod);
  // The replacement exists but is not ready yet: still waiting.
  auto starting = pods({{other, true, false}, {"c", true, false}, {"d", false, false}});
  EXPECT_FALSE(policy.evaluate(spec(10), 1, starting, Names{other}, at(12)).restartPod);
  // Ready again: the next overdue pod goes.
  auto replaced = pods({{other, true, false}, {"c", true, false}, {"d", true, false}});
  HealthDecision second = policy.evaluate(spec(10), 1, replaced, Names{other}, at(13));
  ASSERT_TRUE(second.restartPod);
  EXPECT_EQ(*second.restartPod, other);
}

TEST(HealthPolicy, TheOldestOffenderGoesFirstAndStrangersAreIgnored) {
  HealthPolicy policy;
  auto all = pods({{"a", true, false}, {"b", true, false}});
  policy.evaluate(spec(5), 1, all, Names{"b", "not-ours"}, at(0));
  HealthDecision d = policy.evaluate(spec(5), 1, all, Names{"a", "b", "not-ours"}, at(6));
  ASSERT_TRUE(d.restartPod);
  EXPECT_EQ(*d.restartPod, "b");
  EXPECT_EQ(d.unhealthyPods, (std::vector<std::string>{"a", "b"}));
}

TEST(HealthPolicy, TerminatingPodsAreNotJudged) {
  HealthPolicy policy;
  auto all = pods({{"a", false, true}, {"b", true, false}});
  policy.evaluate(spec(0), 1, all, Names{"a"}, at(0));
  HealthDecision d = policy.evaluate(spec(0), 1, all, Names{"a"}, at(1));
  EXPECT_FALSE(d.restartPod);
  EXPECT_TRUE(d.unhealthyPods.empty());
}

}  // namespace
}  // namespace mp::op
