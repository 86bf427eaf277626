// platform-operator: scales and heals the Deployments named by ServicePolicy objects.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <thread>

#include "base/log.h"
#include "base/signals.h"
#include "client/kube_client.h"
#include "client/prometheus_client.h"
#include "controller/controller.h"
#include "controller/leader_elector.h"
#include "controller/reconciler.h"
#include "http/http_server.h"
#include "http/metrics.h"
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

// /healthz, /readyz and /metrics are the built-in routes of the services' HttpServer; no other route.
mp::http::ServerOptions adminServerOptions(const Options& options) {
  mp::http::ServerOptions admin;
  admin.service = "platform-operator";
  admin.bindAddress = options.metricsBindAddress;
  admin.port = static_cast<uint16_t>(options.metricsPort);
  admin.reactorThreads = 1;
  admin.workerThreads = 1;
  admin.drainTimeout = std::chrono::seconds(1);
  admin.accessLog = false;  // probes and scrapes every few seconds; the operator logs decisions
  return admin;
}

int run(const Options& options) {
  mp::log::Level level = mp::log::Level::kInfo;
  mp::log::parseLevel(options.logLevel, &level);  // parseOptions accepted only a name of the table
  mp::log::setup("platform-operator", level);

  auto connection = options.kubeconfig.empty() ? loadInCluster(options.serviceAccountDir)
                                               : loadKubeconfig(options.kubeconfig, options.context);
  if (!connection.ok()) {
    mp::log::error("cannot configure the Kubernetes client", {{"error", connection.status().message()}});
    return 1;
  }
  const std::string identity = options.identity.empty() ? defaultIdentity() : options.identity;
  std::string leaseNamespace = options.leaseNamespace;
  if (leaseNamespace.empty()) {
    leaseNamespace = !options.namespaceName.empty()              ? options.namespaceName
                     : !connection.value().namespaceName.empty() ? connection.value().namespaceName
                                                                 : "default";
  }
  mp::log::info("starting", {{"server", connection.value().server},
                             {"prometheusUrl", options.prometheusUrl},
                             {"namespace", options.namespaceName.empty() ? "*" : options.namespaceName},
                             {"syncPeriodMs", options.syncPeriod.count()},
                             {"leaderElect", options.leaderElect},
                             {"identity", identity},
                             {"metricsPort", options.metricsPort}});

  // One registry for GET /metrics: the admin server's HTTP metrics and the operator's own.
  mp::ServiceMetrics serverMetrics("platform-operator");
  OperatorMetrics metrics(serverMetrics.sharedRegistry());
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

  mp::http::HttpServer admin(adminServerOptions(options), serverMetrics);
  admin.setReadiness([&kube] {
    return kube.reachable() ? mp::okStatus() : mp::Status::unavailable("the Kubernetes API is not reachable");
  });
  if (options.metricsPort != 0) {
    if (mp::Status started = admin.start(); !started.ok()) {
      mp::log::error("cannot start the admin server", {{"error", started.message()}});
      return 1;
    }
    mp::log::info("serving /healthz /readyz /metrics",
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

  const int signal = mp::waitForTerminationSignal();
  mp::log::info("shutting down", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  stopping = true;
  if (elector) {
    elector->stopNow();
    electorThread.join();  // stops the controller and releases the Lease if held
  }
  controller.stop();
  admin.drainAndStop();
  mp::log::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts: every thread inherits the blocked mask, and only sigwait sees the signals.
  mp::blockTerminationSignals();
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = parseOptions(args);
  if (!options.ok()) {
    std::cerr << "platform-operator: " << options.status().message() << "\n";
    return kExitUsage;
  }
  if (options.value().help) {
    std::cout << usageText();
    return 0;
  }
  return run(options.value());
}
