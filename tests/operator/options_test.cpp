#include "runtime/options.h"

#include <gtest/gtest.h>

namespace mp::op {
namespace {

TEST(Options, DefaultsFollowTheSpec) {
  auto options = parseOptions({"--prometheus-url", "http://prom:9090"});
  ASSERT_TRUE(options.ok()) << options.status().message();
  const Options& o = options.value();
  EXPECT_EQ(o.prometheusUrl, "http://prom:9090");
  EXPECT_EQ(o.syncPeriod.count(), 15000);
  EXPECT_FALSE(o.leaderElect);
  EXPECT_EQ(o.metricsPort, 8081);
  EXPECT_TRUE(o.kubeconfig.empty());
  EXPECT_TRUE(o.namespaceName.empty());
  EXPECT_EQ(o.leaseDuration.count(), 15000);
  EXPECT_EQ(o.renewDeadline.count(), 10000);
  EXPECT_EQ(o.retryPeriod.count(), 2000);
}

TEST(Options, EveryFlagInBothForms) {
  auto options = parseOptions({"--kubeconfig=/k",
                               "--context",
                               "lab",
                               "--prometheus-url=https://p",
                               "--namespace",
                               "prod",
                               "--sync-period=2s",
                               "--leader-elect",
                               "--metrics-port",
                               "0",
                               "--metrics-bind-address=127.0.0.1",
                               "--lease-name",
                               "l",
                               "--lease-namespace=ops",
                               "--identity",
                               "me",
                               "--lease-duration=6s",
                               "--renew-deadline",
                               "4s",
                               "--retry-period=500ms",
                               "--watch-timeout",
                               "30s",
                               "--service-account-dir=/sa",
                               "--log-level",
                               "debug"});
  ASSERT_TRUE(options.ok()) << options.status().message();
  const Options& o = options.value();
  EXPECT_EQ(o.kubeconfig, "/k");
  EXPECT_EQ(o.context, "lab");
  EXPECT_EQ(o.namespaceName, "prod");
  EXPECT_EQ(o.syncPeriod.count(), 2000);
  EXPECT_TRUE(o.leaderElect);
  EXPECT_EQ(o.metricsPort, 0);
  EXPECT_EQ(o.metricsBindAddress, "127.0.0.1");
  EXPECT_EQ(o.leaseName, "l");
  EXPECT_EQ(o.leaseNamespace, "ops");
  EXPECT_EQ(o.identity, "me");
  EXPECT_EQ(o.leaseDuration.count(), 6000);
  EXPECT_EQ(o.renewDeadline.count(), 4000);
  EXPECT_EQ(o.retryPeriod.count(), 500);
  EXPECT_EQ(o.watchTimeout.count(), 30);
  EXPECT_EQ(o.serviceAccountDir, "/sa");
  EXPECT_EQ(o.logLevel, "debug");
}

TEST(Options, BadInputGivesOneClearMessage) {
  struct Case {
    std::vector<std::string> args;
    const char* mentions;
  } cases[] = {
      {{}, "--prometheus-url is required"},
      {{"--prometheus-url", "http://p", "--bogus"}, "unknown flag \"--bogus\""},
      {{"--prometheus-url"}, "--prometheus-url needs a value"},
      {{"--prometheus-url", "prom:9090"}, "must start with http"},
      {{"--prometheus-url", "http://p", "--sync-period", "15"}, "--sync-period"},
      {{"--prometheus-url", "http://p", "--sync-period", "0s"}, "positive duration"},
      {{"--prometheus-url", "http://p", "--metrics-port", "70000"}, "--metrics-port"},
      {{"--prometheus-url", "http://p", "--metrics-port", "80a"}, "--metrics-port"},
      {{"--prometheus-url", "http://p", "--leader-elect=maybe"}, "--leader-elect"},
      {{"--prometheus-url", "http://p", "--renew-deadline", "20s"}, "shorter than --lease-duration"},
      {{"--prometheus-url", "http://p", "--log-level", "loud"}, "--log-level"},
  };
  for (const Case& c : cases) {
    auto options = parseOptions(c.args);
    ASSERT_FALSE(options.ok()) << c.mentions;
    EXPECT_NE(options.status().message().find(c.mentions), std::string::npos) << options.status().message();
    EXPECT_EQ(options.status().message().find('\n'), std::string::npos);
  }
}

TEST(Options, HelpListsEveryFlag) {
  auto options = parseOptions({"--help"});
  ASSERT_TRUE(options.ok());
  EXPECT_TRUE(options.value().help);
  for (const char* flag :
       {"--kubeconfig", "--context", "--prometheus-url", "--namespace", "--sync-period", "--leader-elect",
        "--metrics-port", "--metrics-bind-address", "--lease-name", "--lease-namespace", "--identity",
        "--lease-duration", "--renew-deadline", "--retry-period", "--watch-timeout", "--service-account-dir",
        "--log-level", "--help"}) {
    EXPECT_NE(usageText().find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace mp::op
