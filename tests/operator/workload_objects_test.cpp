#include "api/workload_objects.h"

#include <gtest/gtest.h>

#include "runtime/time_format.h"

namespace mp::op {
namespace {

using nlohmann::json;

json deployment(int generation, int observed, int replicas, int updated, int total) {
  return {
      {"metadata", {{"name", "gw"}, {"resourceVersion", "5"}, {"generation", generation}}},
      {"spec", {{"replicas", replicas}, {"selector", {{"matchLabels", {{"app", "gw"}, {"tier", "edge"}}}}}}},
      {"status", {{"observedGeneration", observed}, {"updatedReplicas", updated}, {"replicas", total}}}};
}

TEST(ReadDeployment, DetectsRollouts) {
  struct Case {
    json object;
    bool rollingOut;
  } cases[] = {
      {deployment(2, 2, 3, 3, 3), false},
      {deployment(3, 2, 3, 3, 3), true},  // controller has not seen the new spec
      {deployment(2, 2, 3, 1, 3), true},  // new template not on every replica
      {deployment(2, 2, 3, 3, 4), true},  // old replicas still around
  };
  for (const Case& c : cases) {
    auto view = readDeployment(c.object);
    ASSERT_TRUE(view.ok());
    EXPECT_EQ(view.value().rollingOut, c.rollingOut) << c.object.dump();
    EXPECT_EQ(view.value().rollingOut, !view.value().rolloutMessage.empty());
  }
  auto view = readDeployment(deployment(1, 1, 3, 3, 3));
  EXPECT_EQ(view.value().labelSelector, "app=gw,tier=edge");
  EXPECT_EQ(view.value().specReplicas, 3);
  EXPECT_EQ(view.value().resourceVersion, "5");
}

json withProgressing(json object, const std::string& status, const std::string& reason) {
  object["status"]["conditions"] = {
      {{"type", "Available"}, {"status", "True"}, {"reason", "MinimumReplicasAvailable"}},
      {{"type", "Progressing"},
       {"status", status},
       {"reason", reason},
       {"message", "ReplicaSet \"gw-7d4\" has timed out progressing."}}};
  return object;
}

// Past its progress deadline a rollout no longer holds scaling and healing: it is reported instead.
TEST(ReadDeployment, ARolloutPastItsProgressDeadlineIsStuckNotRollingOut) {
  struct Case {
    const char* what;
    json object;
    bool rollingOut;
    bool stuck;
  } cases[] = {
      {"new ReplicaSet still progressing",
       withProgressing(deployment(2, 2, 3, 1, 3), "True", "ReplicaSetUpdated"), true, false},
      {"deadline exceeded, pod not updated",
       withProgressing(deployment(2, 2, 3, 1, 4), "False", "ProgressDeadlineExceeded"), false, true},
      {"deadline exceeded, old replicas left",
       withProgressing(deployment(2, 2, 3, 3, 4), "False", "ProgressDeadlineExceeded"), false, true},
      {"a new spec restarts the deadline",
       withProgressing(deployment(3, 2, 3, 1, 3), "False", "ProgressDeadlineExceeded"), true, false},
      {"complete", withProgressing(deployment(2, 2, 3, 3, 3), "True", "NewReplicaSetAvailable"), false,
       false},
      {"False for another reason", withProgressing(deployment(2, 2, 3, 1, 3), "False", "Other"), true, false},
  };
  for (const Case& c : cases) {
    auto view = readDeployment(c.object);
    ASSERT_TRUE(view.ok()) << c.what;
    EXPECT_EQ(view.value().rollingOut, c.rollingOut) << c.what;
    EXPECT_EQ(view.value().rolloutStuck, c.stuck) << c.what;
    if (c.stuck) {
      EXPECT_NE(view.value().rolloutMessage.find("ProgressDeadlineExceeded"), std::string::npos) << c.what;
      EXPECT_NE(view.value().rolloutMessage.find("timed out progressing"), std::string::npos) << c.what;
    }
  }
}

TEST(ReadDeployment, RefusesSelectorsItCannotListPodsBy) {
  json noSelector = deployment(1, 1, 1, 1, 1);
  noSelector["spec"].erase("selector");
  EXPECT_FALSE(readDeployment(noSelector).ok());
  json expressions = deployment(1, 1, 1, 1, 1);
  expressions["spec"]["selector"]["matchExpressions"] = json::array();
  EXPECT_FALSE(readDeployment(expressions).ok());
}

// Members of the wrong JSON type (inputs found by tests/fuzz/fuzz_operator_json) are errors, not exceptions.
TEST(ReadDeployment, MalformedObjectsAreErrorsNotExceptions) {
  EXPECT_FALSE(readDeployment(json(1)).ok());
  json numberLabel = deployment(1, 1, 1, 1, 1);
  numberLabel["spec"]["selector"]["matchLabels"]["app"] = 1;
  EXPECT_FALSE(readDeployment(numberLabel).ok());
  json numberName = deployment(1, 1, 1, 1, 1);
  numberName["metadata"]["name"] = 2;
  EXPECT_FALSE(readDeployment(numberName).ok());
}

TEST(ReadPod, MalformedPodIsNeitherReadyNorTerminating) {
  for (const json& pod : {json(1), json{{"status", {{"conditions", {1}}}}}, json{{"metadata", "x"}}}) {
    EXPECT_FALSE(readPod(pod).ready) << pod.dump();
    EXPECT_FALSE(readPod(pod).terminating) << pod.dump();
  }
}

TEST(ReadPod, ReadyAndTerminating) {
  json ready = {
      {"metadata", {{"name", "p"}}},
      {"status", {{"phase", "Running"}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  EXPECT_TRUE(readPod(ready).ready);
  EXPECT_FALSE(readPod(ready).terminating);
  json terminating = ready;
  terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  EXPECT_TRUE(readPod(terminating).terminating);
  EXPECT_FALSE(readPod(terminating).ready);
  json notReady = ready;
  notReady["status"]["conditions"][0]["status"] = "False";
  EXPECT_FALSE(readPod(notReady).ready);
  json failed = ready;
  failed["status"]["phase"] = "Failed";
  EXPECT_TRUE(readPod(failed).terminating);
}

TEST(MakeEvent, NamesTheObjectReasonAndMessage) {
  json policy = {{"apiVersion", "platform.movies.dev/v1alpha1"},
                 {"kind", "ServicePolicy"},
                 {"metadata", {{"name", "gw"}, {"namespace", "prod"}, {"uid", "u1"}}}};
  json event = makeEvent(policy, "Scaled", "scaled from 1 to 3", false, "platform-operator", "me", "T");
  EXPECT_EQ(event["involvedObject"]["kind"], "ServicePolicy");
  EXPECT_EQ(event["involvedObject"]["uid"], "u1");
  EXPECT_EQ(event["metadata"]["namespace"], "prod");
  EXPECT_EQ(event["type"], "Normal");
  EXPECT_EQ(event["reason"], "Scaled");
  json other = makeEvent(policy, "Scaled", "again", true, "platform-operator", "me", "T");
  EXPECT_NE(event["metadata"]["name"], other["metadata"]["name"]);
  EXPECT_EQ(other["type"], "Warning");
}

TEST(TimeFormat, Rfc3339RoundTripsWithMicroseconds) {
  auto parsed = parseRfc3339("2026-03-04T05:06:07.123456Z");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(formatRfc3339(*parsed, true), "2026-03-04T05:06:07.123456Z");
  EXPECT_EQ(formatRfc3339(*parsed), "2026-03-04T05:06:07Z");
  auto offset = parseRfc3339("2026-03-04T07:06:07+02:00");
  ASSERT_TRUE(offset);
  EXPECT_EQ(formatRfc3339(*offset), "2026-03-04T05:06:07Z");
  EXPECT_FALSE(parseRfc3339("yesterday"));
  EXPECT_EQ(parseDuration("15s")->count(), 15000);
  EXPECT_EQ(parseDuration("1m30s")->count(), 90000);
  EXPECT_EQ(parseDuration("250ms")->count(), 250);
  EXPECT_FALSE(parseDuration("15"));
  EXPECT_FALSE(parseDuration("s"));
  EXPECT_FALSE(parseDuration("3d"));
}

}  // namespace
}  // namespace mp::op
