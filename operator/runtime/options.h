#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"

namespace mp::op {

// Everything the command line sets (docs/operator.md, "Command line", plus documented test knobs).
struct Options {
  std::string kubeconfig;
  std::string context;
  std::string prometheusUrl;
  std::string namespaceName;  // empty: every namespace
  std::chrono::milliseconds syncPeriod{15000};
  bool leaderElect = false;
  int metricsPort = 8081;
  std::string metricsBindAddress = "0.0.0.0";
  std::string leaseName = "platform-operator";
  std::string leaseNamespace;  // empty: --namespace, else the pod's namespace, else "default"
  std::string identity;        // empty: hostname + pid
  std::chrono::milliseconds leaseDuration{15000};
  std::chrono::milliseconds renewDeadline{10000};
  std::chrono::milliseconds retryPeriod{2000};
  std::chrono::seconds watchTimeout{300};
  std::string serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::string logLevel = "info";
  bool help = false;
};

// Parses argv (both "--flag value" and "--flag=value"); a bad flag is kInvalidArgument
// (reason BadFlag) whose message is the one line to print.
StatusOr<Options> parseOptions(const std::vector<std::string>& args);

// The --help text: every flag with its default.
std::string usageText();

}  // namespace mp::op
