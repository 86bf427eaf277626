#include "policy/replica_owners.h"

#include <gtest/gtest.h>

#include "api/workload_objects.h"

namespace mp::op {
namespace {

using nlohmann::json;

ReplicaClaim hpa(const std::string& name, const std::string& target, const std::string& kind = "Deployment") {
  return {"HorizontalPodAutoscaler", name, kind, target, "2026-01-01T00:00:00Z"};
}

ReplicaClaim policy(const std::string& name, const std::string& target, const std::string& created) {
  return {"ServicePolicy", name, "Deployment", target, created};
}

TEST(OtherReplicaOwners, HorizontalPodAutoscalersAndOlderPoliciesOwnTheCount) {
  const ReplicaClaim self = policy("gw", "gw", "2026-02-01T00:00:00Z");
  struct Case {
    const char* what;
    std::vector<ReplicaClaim> claims;
    std::string owners;  // describeClaims of the result
  } cases[] = {
      {"nothing else", {self}, ""},
      {"an HPA on the same Deployment", {self, hpa("gw-cpu", "gw")}, "HorizontalPodAutoscaler gw-cpu"},
      {"an HPA on another Deployment", {self, hpa("inv", "inventory")}, ""},
      {"an HPA on a StatefulSet of that name", {self, hpa("gw", "gw", "StatefulSet")}, ""},
      {"an older policy on the same Deployment",
       {policy("first", "gw", "2026-01-15T00:00:00Z"), self},
       "ServicePolicy first"},
      {"a younger policy on the same Deployment", {self, policy("second", "gw", "2026-03-01T00:00:00Z")}, ""},
      {"same second: the name decides", {policy("a", "gw", "2026-02-01T00:00:00Z"), self}, "ServicePolicy a"},
      {"same second, later name", {policy("z", "gw", "2026-02-01T00:00:00Z"), self}, ""},
      {"several",
       {hpa("h1", "gw"), policy("first", "gw", "2025-12-01T00:00:00Z"), self, hpa("h2", "gw")},
       "HorizontalPodAutoscaler h1, ServicePolicy first, HorizontalPodAutoscaler h2"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(describeClaims(otherReplicaOwners("gw", self, c.claims)), c.owners) << c.what;
  }
}

// List items as a real API server returns them (no kind/apiVersion on items), autoscaling/v2 shape.
TEST(OtherReplicaOwners, ReadsHorizontalPodAutoscalerAndPolicyLists) {
  json hpas = {{"kind", "HorizontalPodAutoscalerList"},
               {"apiVersion", "autoscaling/v2"},
               {"items",
                {{{"metadata", {{"name", "gw-cpu"}, {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
                  {"spec",
                   {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "gw"}}},
                    {"minReplicas", 1},
                    {"maxReplicas", 5}}}},
                 {{"metadata", {{"name", "broken"}}}, {"spec", 3}}}}};
  auto claims = readReplicaClaims(hpas, "HorizontalPodAutoscaler");
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[0].kind, "HorizontalPodAutoscaler");
  EXPECT_EQ(claims[0].name, "gw-cpu");
  EXPECT_EQ(claims[0].targetKind, "Deployment");
  EXPECT_EQ(claims[0].targetName, "gw");
  EXPECT_EQ(claims[1].name, "broken");
  EXPECT_EQ(claims[1].targetName, "");  // unreadable: targets nothing

  json policies = {{"items",
                    {{{"metadata", {{"name", "p"}, {"creationTimestamp", "2026-01-02T00:00:00Z"}}},
                      {"spec", {{"targetRef", {{"kind", "Deployment"}, {"name", "gw"}}}}}}}}};
  auto read = readReplicaClaims(policies, "ServicePolicy");
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].creationTimestamp, "2026-01-02T00:00:00Z");
  EXPECT_EQ(read[0].targetName, "gw");
  EXPECT_TRUE(readReplicaClaims(json(5), "ServicePolicy").empty());
}

}  // namespace
}  // namespace mp::op
