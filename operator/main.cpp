// platform-operator: scales and heals the Deployments named by ServicePolicy objects.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <thread>

#include "client/kube_client.h"
#include "client/prometheus_client.h"
#include "controller/controller.h"
#include "controller/leader_elector.h"
#include "controller/reconciler.h"
#include "runtime/admin_server.h"
#include "runtime/log.h"
#include "runtime/operator_metrics.h"
#include "runtime/options.h"

namespace {

using namespace mp::op;

constexpr int kExitUsage = 2;

std::string defaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + "_" + std::to_string(getpid());
}

LogLevel levelFrom(const std::string& name) {
  if (name == "debug") {
    return LogLevel::kDebug;
  }
  if (name == "warn") {
    return LogLevel::kWarn;
  }
  return name == "error" ? LogLevel::kError : LogLevel::kInfo;
}

int run(const Options& options) {
  setLogLevel(levelFrom(options.logLevel));
  // Signals are taken by sigwait on this thread only; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto connection = options.kubeconfig.empty() ? loadInCluster(options.serviceAccountDir)
                                               : loadKubeconfig(options.kubeconfig, options.context);
  if (!connection.ok()) {
    logError("cannot configure the Kubernetes client", {{"error", connection.error().message}});
    return 1;
  }
  const std::string identity = options.identity.empty() ? defaultIdentity() : options.identity;
  std::string leaseNamespace = options.leaseNamespace;
  if (leaseNamespace.empty()) {
    leaseNamespace = !options.namespaceName.empty()              ? options.namespaceName
                     : !connection.value().namespaceName.empty() ? connection.value().namespaceName
                                                                 : "default";
  }
  logInfo("starting", {{"server", connection.value().server},
                       {"prometheusUrl", options.prometheusUrl},
                       {"namespace", options.namespaceName.empty() ? "*" : options.namespaceName},
                       {"syncPeriodMs", options.syncPeriod.count()},
                       {"leaderElect", options.leaderElect},
                       {"identity", identity},
                       {"metricsPort", options.metricsPort}});

  OperatorMetrics metrics;
  KubeClient kube(connection.value(), "platform-operator/0.1 (" + identity + ")");
  PrometheusClient prometheus(options.prometheusUrl, [&metrics](double s) { metrics.prometheusQuery(s); });
  std::unique_ptr<LeaderElector> elector;
  // Without leader election nothing fences the writes; with it, each must end before the Lease can.
  auto writeDeadline = [&elector]() -> KubeClient::Deadline {
    return elector ? elector->writeDeadline() : std::chrono::steady_clock::time_point::max();
  };
  Reconciler reconciler(kube, prometheus, metrics, writeDeadline, identity);
  Controller controller(kube, reconciler,
                        ControllerConfig{options.namespaceName, options.syncPeriod, options.watchTimeout});

  AdminServer admin([&kube] { return kube.reachable(); }, [&metrics] { return metrics.render(); });
  if (options.metricsPort != 0) {
    if (Status started = admin.start(options.metricsBindAddress, options.metricsPort); !started.ok()) {
      logError("cannot start the admin server", {{"error", started.error().message}});
      return 1;
    }
    logInfo("serving /healthz /readyz /metrics",
            {{"address", options.metricsBindAddress}, {"port", options.metricsPort}});
  }

  std::atomic<bool> stopping{false};
  std::thread electorThread;
  if (options.leaderElect) {
    LeaseConfig lease{leaseNamespace,        options.leaseName,     identity,
                      options.leaseDuration, options.renewDeadline, options.retryPeriod};
    elector = std::make_unique<LeaderElector>(
        kube, lease,
        [&] {
          metrics.leader(true);
          controller.start();
        },
        [&] {
          metrics.leader(false);
          controller.stop();
        });
    electorThread = std::thread([&] { elector->run(stopping); });
  } else {
    metrics.leader(true);
    controller.start();
  }

  int signal = 0;
  sigwait(&signals, &signal);
  logInfo("shutting down", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  stopping = true;
  if (elector) {
    elector->stopNow();
    electorThread.join();  // stops the controller and releases the Lease if held
  }
  controller.stop();
  admin.stop();
  logInfo("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = parseOptions(args);
  if (!options.ok()) {
    std::cerr << "platform-operator: " << options.error().message << "\n";
    return kExitUsage;
  }
  if (options.value().help) {
    std::cout << usageText();
    return 0;
  }
  return run(options.value());
}
