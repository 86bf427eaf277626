// The YAML that ships with the operator, checked against its code: the CRD schema against the types'
// JSON mapping, the samples against the CRD and the spec rules, the RBAC file's shape.
#include <gtest/gtest.h>

#include "api/service_policy_types.h"
#include "test_support.h"

namespace mp::op {
namespace {

using nlohmann::json;

const char* kCrd = "charts/movie-platform/crds/servicepolicies.platform.movies.dev.yaml";

json crdVersion() {
  json crd = test::loadYamlAsJson(test::sourcePath(kCrd));
  return crd["spec"]["versions"][0];
}

// The structural-schema checks the API server applies that matter here: types, required, enum,
// minimum, minLength, minItems, and no field the schema does not know (it would be pruned).
void validate(const json& schema, const json& value, const std::string& path,
              std::vector<std::string>& problems) {
  const std::string type = schema.value("type", "");
  auto fail = [&](const std::string& what) { problems.push_back(path + ": " + what); };
  if (type == "object") {
    if (!value.is_object()) {
      return fail("not an object");
    }
    for (const auto& required : schema.value("required", json::array())) {
      if (!value.contains(required.get<std::string>())) {
        fail("missing " + required.get<std::string>());
      }
    }
    if (schema.contains("properties")) {
      for (const auto& [key, item] : value.items()) {
        if (!schema["properties"].contains(key)) {
          fail("unknown field " + key);
        } else {
          validate(schema["properties"][key], item, path + "." + key, problems);
        }
      }
    }
  } else if (type == "array") {
    if (!value.is_array()) {
      return fail("not an array");
    }
    if (value.size() < schema.value("minItems", 0u)) {
      fail("too few items");
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      validate(schema["items"], value[i], path + "[" + std::to_string(i) + "]", problems);
    }
  } else if (type == "string") {
    if (!value.is_string()) {
      return fail("not a string");
    }
    if (value.get<std::string>().size() < schema.value("minLength", 0u)) {
      fail("too short");
    }
  } else if (type == "integer" || type == "number") {
    if (type == "integer" ? !value.is_number_integer() : !value.is_number()) {
      return fail("not an " + type);
    }
    if (schema.contains("minimum")) {
      double minimum = schema["minimum"].get<double>();
      if (value.get<double>() < minimum ||
          (schema.value("exclusiveMinimum", false) && value.get<double>() == minimum)) {
        fail("below minimum");
      }
    }
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& allowed : schema["enum"]) {
      found = found || allowed == value;
    }
    if (!found) {
      fail("not one of " + schema["enum"].dump());
    }
  }
}

// Every field path of `value`, descending into objects and the first element of arrays.
void fieldPaths(const json& value, const std::string& prefix, std::set<std::string>& out) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      out.insert(prefix + "." + key);
      fieldPaths(item, prefix + "." + key, out);
    }
  } else if (value.is_array() && !value.empty()) {
    fieldPaths(value[0], prefix + "[]", out);
  }
}

void schemaPaths(const json& schema, const std::string& prefix, std::set<std::string>& out) {
  if (schema.contains("properties")) {
    for (const auto& [key, item] : schema["properties"].items()) {
      out.insert(prefix + "." + key);
      schemaPaths(item, prefix + "." + key, out);
    }
  } else if (schema.contains("items")) {
    schemaPaths(schema["items"], prefix + "[]", out);
  }
}

ServicePolicySpec fullSpec() {
  ServicePolicySpec spec;
  spec.targetRef = {"Deployment", "gw"};
  spec.maxReplicas = 3;
  spec.metrics = {{"m", "q", 1}};
  spec.health = HealthSpec{"up == 0", 60, "pod"};
  spec.fallbackReplicas = 2;
  return spec;
}

ServicePolicyStatus fullStatus() {
  ServicePolicyStatus status;
  status.lastScaleTime = "2026-01-01T00:00:00Z";
  status.metrics = {{"m", 1.5, 2, "err"}};
  status.conditions = {{"Ready", "True", "Reconciled", "ok", "2026-01-01T00:00:00Z", 1}};
  return status;
}

TEST(Crd, DeclaresTheResourceAsTheOperatorUsesIt) {
  json crd = test::loadYamlAsJson(test::sourcePath(kCrd));
  EXPECT_EQ(crd["apiVersion"], "apiextensions.k8s.io/v1");
  EXPECT_EQ(crd["metadata"]["name"], std::string(kPolicyPlural) + "." + kPolicyGroup);
  EXPECT_EQ(crd["spec"]["group"], kPolicyGroup);
  EXPECT_EQ(crd["spec"]["names"]["kind"], kPolicyKind);
  EXPECT_EQ(crd["spec"]["names"]["plural"], kPolicyPlural);
  EXPECT_EQ(crd["spec"]["scope"], "Namespaced");
  json version = crdVersion();
  EXPECT_EQ(version["name"], kPolicyVersion);
  EXPECT_TRUE(version["served"].get<bool>());
  EXPECT_TRUE(version["storage"].get<bool>());
  EXPECT_TRUE(version["subresources"].contains("status"));
  std::vector<std::string> columns;
  for (const auto& c : version["additionalPrinterColumns"]) {
    columns.push_back(c["name"]);
  }
  EXPECT_EQ(columns, (std::vector<std::string>{"Target", "Min", "Max", "Desired", "Current", "Age"}));
}

TEST(Crd, SchemaHasExactlyTheFieldsOfTheTypes) {
  json schema = crdVersion()["schema"]["openAPIV3Schema"]["properties"];
  std::set<std::string> fromSchema;
  std::set<std::string> fromCode;
  schemaPaths(schema["spec"], "spec", fromSchema);
  fieldPaths(specToJson(fullSpec()), "spec", fromCode);
  EXPECT_EQ(fromSchema, fromCode);
  fromSchema.clear();
  fromCode.clear();
  schemaPaths(schema["status"], "status", fromSchema);
  fieldPaths(statusToJson(fullStatus()), "status", fromCode);
  EXPECT_EQ(fromSchema, fromCode);
}

TEST(Crd, AcceptsWhatTheOperatorWritesAndRejectsNonsense) {
  json schema = crdVersion()["schema"]["openAPIV3Schema"];
  json object = {{"apiVersion", "platform.movies.dev/v1alpha1"},
                 {"kind", "ServicePolicy"},
                 {"metadata", json::object()},
                 {"spec", specToJson(fullSpec())},
                 {"status", statusToJson(fullStatus())}};
  std::vector<std::string> problems;
  validate(schema, object, "", problems);
  EXPECT_TRUE(problems.empty()) << problems[0];
  object["spec"]["minReplicas"] = 0;
  object["spec"]["metrics"][0]["targetPerReplica"] = 0;
  object["spec"]["replica"] = 3;
  validate(schema, object, "", problems);
  EXPECT_EQ(problems.size(), 3u);
}

TEST(Samples, OnePerServiceParsedByTheOperatorTypes) {
  struct Sample {
    const char* file;
    const char* target;
    const char* queryHas;
  } samples[] = {
      {"gateway.yaml", "api-gateway", "http_requests_total{service=\"api-gateway\"}"},
      {"inventory.yaml", "inventory-app", "http_requests_total{service=\"inventory-app\"}"},
      {"billing.yaml", "billing-app", "billing_queue_messages{state=\"ready\"}"},
  };
  json schema = crdVersion()["schema"]["openAPIV3Schema"];
  for (const Sample& s : samples) {
    json object = test::loadYamlAsJson(test::sourcePath(std::string("operator/config/samples/") + s.file));
    EXPECT_EQ(object["apiVersion"], std::string(kPolicyGroup) + "/" + kPolicyVersion) << s.file;
    EXPECT_EQ(object["kind"], kPolicyKind) << s.file;
    std::vector<std::string> problems;
    validate(schema, object, s.file, problems);
    EXPECT_TRUE(problems.empty()) << problems[0];
    auto policy = policyFromJson(object);
    ASSERT_TRUE(policy.ok()) << s.file;
    auto spec = parsePolicySpec(policy.value().rawSpec);
    ASSERT_TRUE(spec.ok()) << s.file << ": " << spec.status().message();
    EXPECT_TRUE(validatePolicySpec(spec.value()).empty()) << s.file;
    EXPECT_EQ(spec.value().targetRef.name, s.target);
    EXPECT_EQ(spec.value().minReplicas, 1);
    EXPECT_EQ(spec.value().maxReplicas, 3);
    ASSERT_EQ(spec.value().metrics.size(), 1u);
    EXPECT_NE(spec.value().metrics[0].query.find(s.queryHas), std::string::npos)
        << spec.value().metrics[0].query;
    EXPECT_TRUE(spec.value().health);
  }
}

TEST(RbacRules, AreExplicitRules) {
  json rules = test::loadYamlAsJson(test::sourcePath("charts/movie-platform/files/operator-rbac-rules.yaml"));
  ASSERT_TRUE(rules.is_array());
  for (const auto& [verb, group, resource] : test::rbacGrants(rules)) {
    EXPECT_NE(verb, "*");
    EXPECT_NE(group, "*");
    EXPECT_NE(resource, "*");
  }
  EXPECT_FALSE(test::rbacGrants(rules).empty());
}

}  // namespace
}  // namespace mp::op
