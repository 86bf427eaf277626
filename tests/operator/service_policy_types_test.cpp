#include "api/service_policy_types.h"

#include <gtest/gtest.h>

namespace mp::op {
namespace {

using nlohmann::json;

json validSpec() {
  return json::parse(R"json({
    "targetRef": {"kind": "Deployment", "name": "api-gateway"},
    "minReplicas": 1, "maxReplicas": 3,
    "metrics": [{"name": "request_rate", "query": "sum(rate(http_requests_total[1m]))", "targetPerReplica": 200}],
    "behavior": {"scaleUpStabilizationSeconds": 0, "scaleDownStabilizationSeconds": 300, "tolerance": 0.1},
    "health": {"query": "up == 0", "unhealthyAfterSeconds": 60},
    "fallbackReplicas": 2
  })json");
}

TEST(PolicySpec, ParsesEveryFieldAndAppliesDefaults) {
  auto spec = parsePolicySpec(validSpec());
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  const ServicePolicySpec& s = spec.value();
  EXPECT_EQ(s.targetRef.name, "api-gateway");
  EXPECT_EQ(s.maxReplicas, 3);
  ASSERT_EQ(s.metrics.size(), 1u);
  EXPECT_EQ(s.metrics[0].targetPerReplica, 200);
  EXPECT_EQ(s.behavior.scaleDownStabilizationSeconds, 300);
  EXPECT_EQ(s.behavior.maxStepReplicas, 0);
  ASSERT_TRUE(s.health);
  EXPECT_EQ(s.health->podLabel, "pod");
  EXPECT_EQ(s.fallbackReplicas, 2);
  EXPECT_TRUE(validatePolicySpec(s).empty());

  json minimal = {{"targetRef", {{"kind", "Deployment"}, {"name", "x"}}},
                  {"maxReplicas", 2},
                  {"metrics", {{{"name", "m"}, {"query", "q"}, {"targetPerReplica", 1}}}}};
  auto defaults = parsePolicySpec(minimal);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.value().minReplicas, 1);
  EXPECT_EQ(defaults.value().behavior.scaleUpStabilizationSeconds, 0);
  EXPECT_EQ(defaults.value().behavior.scaleDownStabilizationSeconds, 300);
  EXPECT_DOUBLE_EQ(defaults.value().behavior.tolerance, 0.1);
  EXPECT_FALSE(defaults.value().health);
  EXPECT_FALSE(defaults.value().fallbackReplicas);
}

TEST(PolicySpec, SpecToJsonRoundTrips) {
  auto spec = parsePolicySpec(validSpec());
  ASSERT_TRUE(spec.ok());
  auto again = parsePolicySpec(specToJson(spec.value()));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(specToJson(again.value()), specToJson(spec.value()));
}

TEST(PolicySpec, WrongTypesAreErrorsNamingTheField) {
  struct Case {
    const char* pointer;
    json value;
    const char* mentions;
  } cases[] = {
      {"/minReplicas", "one", "spec.minReplicas"},
      {"/maxReplicas", 2.5, "spec.maxReplicas"},
      {"/metrics", "x", "spec.metrics"},
      {"/metrics/0/targetPerReplica", "200", "spec.metrics[0].targetPerReplica"},
      {"/behavior/tolerance", true, "spec.behavior.tolerance"},
      {"/health", 3, "spec.health"},
      {"/targetRef/name", 7, "spec.targetRef.name"},
  };
  for (const Case& c : cases) {
    json spec = validSpec();
    spec[json::json_pointer(c.pointer)] = c.value;
    auto parsed = parsePolicySpec(spec);
    ASSERT_FALSE(parsed.ok()) << c.pointer;
    EXPECT_NE(parsed.status().message().find(c.mentions), std::string::npos) << parsed.status().message();
  }
}

TEST(PolicySpec, ValidationCatchesEveryInvalidSpec) {
  struct Case {
    const char* name;
    std::function<void(ServicePolicySpec&)> change;
    const char* mentions;
  } cases[] = {
      {"min>max", [](ServicePolicySpec& s) { s.minReplicas = 4; }, "greater than spec.maxReplicas"},
      {"emptyQuery", [](ServicePolicySpec& s) { s.metrics[0].query = ""; }, "query is empty"},
      {"zeroTarget", [](ServicePolicySpec& s) { s.metrics[0].targetPerReplica = 0; }, "greater than 0"},
      {"negativeTarget", [](ServicePolicySpec& s) { s.metrics[0].targetPerReplica = -1; }, "greater than 0"},
      {"noMetrics", [](ServicePolicySpec& s) { s.metrics.clear(); }, "spec.metrics is empty"},
      {"duplicateNames", [](ServicePolicySpec& s) { s.metrics.push_back(s.metrics[0]); }, "used twice"},
      {"notDeployment", [](ServicePolicySpec& s) { s.targetRef.kind = "StatefulSet"; }, "must be Deployment"},
      {"noTarget", [](ServicePolicySpec& s) { s.targetRef.name = ""; }, "targetRef.name is empty"},
      {"zeroMin", [](ServicePolicySpec& s) { s.minReplicas = 0; }, "at least 1"},
      {"tolerance", [](ServicePolicySpec& s) { s.behavior.tolerance = 1.5; }, "tolerance"},
      {"window", [](ServicePolicySpec& s) { s.behavior.scaleDownStabilizationSeconds = -1; }, "negative"},
      {"step", [](ServicePolicySpec& s) { s.behavior.maxStepReplicas = -1; }, "maxStepReplicas"},
      {"healthQuery", [](ServicePolicySpec& s) { s.health->query = ""; }, "spec.health.query is empty"},
      {"fallback", [](ServicePolicySpec& s) { s.fallbackReplicas = 9; }, "fallbackReplicas"},
  };
  for (const Case& c : cases) {
    ServicePolicySpec spec = parsePolicySpec(validSpec()).value();
    c.change(spec);
    auto problems = validatePolicySpec(spec);
    ASSERT_FALSE(problems.empty()) << c.name;
    bool found = false;
    for (const std::string& p : problems) {
      found = found || p.find(c.mentions) != std::string::npos;
    }
    EXPECT_TRUE(found) << c.name << ": " << problems[0];
  }
}

TEST(PolicyObject, ReadsMetadataAndStatus) {
  json object = {
      {"apiVersion", "platform.movies.dev/v1alpha1"},
      {"kind", "ServicePolicy"},
      {"metadata", {{"name", "gw"}, {"namespace", "prod"}, {"generation", 4}, {"resourceVersion", "77"}}},
      {"spec", validSpec()},
      {"status",
       {{"observedGeneration", 3},
        {"desiredReplicas", 2},
        {"metrics", {{{"name", "request_rate"}, {"value", 12.5}}}},
        {"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "Reconciled"}}}}}}};
  auto policy = policyFromJson(object);
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy.value().metadata.generation, 4);
  EXPECT_EQ(policy.value().metadata.namespaceName, "prod");
  EXPECT_EQ(policy.value().status.desiredReplicas, 2);
  EXPECT_EQ(policy.value().status.metrics.at(0).value, 12.5);
  EXPECT_EQ(statusFromJson(statusToJson(policy.value().status)).conditions.at(0).reason, "Reconciled");
  EXPECT_FALSE(policyFromJson(json{{"spec", validSpec()}}).ok());
}

TEST(PolicyObject, ThePauseAnnotationIsExactlyTrue) {
  struct Case {
    json annotations;
    bool paused;
  } cases[] = {
      {json::object(), false},
      {{{"platform.movies.dev/paused", "true"}}, true},
      {{{"platform.movies.dev/paused", "false"}}, false},
      {{{"platform.movies.dev/paused", "yes"}}, false},
      {{{"platform.movies.dev/paused", true}}, false},  // annotations are strings; a bool is not one
      {{{"other/paused", "true"}}, false},
      {"not an object", false},
  };
  for (const Case& c : cases) {
    auto policy = policyFromJson(json{{"metadata", {{"name", "gw"}, {"annotations", c.annotations}}}});
    ASSERT_TRUE(policy.ok());
    EXPECT_EQ(policy.value().metadata.paused, c.paused) << c.annotations.dump();
  }
}

// A metadata member of the wrong type (found by tests/fuzz/fuzz_operator_json) reads as absent.
TEST(PolicyObject, MetadataOfTheWrongTypeIsAnErrorNotAnException) {
  EXPECT_FALSE(policyFromJson(json{{"metadata", {{"name", 2}}}}).ok());
  auto policy =
      policyFromJson(json{{"metadata", {{"name", "gw"}, {"namespace", 3}, {"uid", json::array()}}}});
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy.value().metadata.namespaceName, "");
}

TEST(Conditions, LastTransitionTimeMovesOnlyWhenTheStatusFlips) {
  std::vector<Condition> conditions;
  setCondition(conditions, {"Ready", "True", "Reconciled", "ok", "", 1}, "T1");
  ASSERT_EQ(conditions.size(), 1u);
  EXPECT_EQ(conditions[0].lastTransitionTime, "T1");
  setCondition(conditions, {"Ready", "True", "Reconciled", "other message", "", 2}, "T2");
  EXPECT_EQ(conditions[0].lastTransitionTime, "T1");
  EXPECT_EQ(conditions[0].message, "other message");
  EXPECT_EQ(conditions[0].observedGeneration, 2);
  setCondition(conditions, {"Ready", "False", "InvalidSpec", "bad", "", 3}, "T3");
  EXPECT_EQ(conditions[0].lastTransitionTime, "T3");
  setCondition(conditions, {"Healthy", "True", "AllPodsHealthy", "", "", 3}, "T4");
  EXPECT_EQ(conditions.size(), 2u);
  ASSERT_NE(findCondition(conditions, "Healthy"), nullptr);
  EXPECT_EQ(findCondition(conditions, "Missing"), nullptr);
}

}  // namespace
}  // namespace mp::op
