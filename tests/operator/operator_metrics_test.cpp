// OperatorMetrics' per-policy series: set from the last reconcile, removed when they stop meaning anything.
#include "runtime/operator_metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace mp::op {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::string kDesired =
    "operator_policy_desired_replicas{namespace=\"movies\",policy=\"billing-app\"} 3";
const std::string kCurrent =
    "operator_policy_current_replicas{namespace=\"movies\",policy=\"billing-app\"} 2";
const std::string kValue =
    "operator_policy_metric_value{metric=\"queue_ready\",namespace=\"movies\",policy=\"billing-app\"}";
const std::string kTarget =
    "operator_policy_metric_target_per_replica{metric=\"queue_ready\",namespace=\"movies\",policy=\"billing-"
    "app\"} "
    "100";
const std::string kOtherValue =
    "operator_policy_metric_value{metric=\"unacked\",namespace=\"movies\",policy=\"billing-app\"}";

TEST(OperatorMetrics, PolicySeriesFollowTheLastReconcile) {
  OperatorMetrics metrics;
  metrics.policyObserved("movies", "billing-app", 3, 2, {{"queue_ready", 250.0, 100}, {"unacked", 4.0, 50}});
  std::string text = metrics.render();
  EXPECT_TRUE(has(text, kDesired)) << text;
  EXPECT_TRUE(has(text, kCurrent)) << text;
  EXPECT_TRUE(has(text, kValue + " 250")) << text;
  EXPECT_TRUE(has(text, kTarget)) << text;
  EXPECT_TRUE(has(text, kOtherValue + " 4")) << text;

  // An unreadable metric has no value (not its last one); a metric gone from the spec has no series.
  metrics.policyObserved("movies", "billing-app", 3, 2, {{"queue_ready", std::nullopt, 100}});
  text = metrics.render();
  EXPECT_FALSE(has(text, kValue)) << text;
  EXPECT_TRUE(has(text, kTarget)) << text;
  EXPECT_FALSE(has(text, kOtherValue)) << text;

  metrics.policyDeleted("movies", "billing-app");
  text = metrics.render();
  EXPECT_FALSE(has(text, "policy=\"billing-app\"")) << text;
  // The process metrics come with every exposition.
  EXPECT_TRUE(has(text, "process_resident_memory_bytes ")) << text;
  EXPECT_TRUE(has(text, "operator_errors_total{kind=\"kubernetes\"} 0")) << text;
}

}  // namespace
}  // namespace mp::op
