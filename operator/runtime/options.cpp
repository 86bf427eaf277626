#include "runtime/options.h"

#include <functional>
#include <map>

#include "base/log.h"
#include "runtime/time_format.h"

namespace mp::op {
namespace {

// A flag that can never work as given; the message is the one line to print.
Status badFlag(std::string message) {
  return Status::invalidArgument(std::move(message)).withReason("BadFlag");
}

StatusOr<int> parsePort(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    int port = std::stoi(text, &used);
    if (used == text.size() && port >= 0 && port <= 65535) {
      return port;
    }
  } catch (const std::exception&) {
  }
  return badFlag(flag + ": \"" + text + "\" is not a port number (0-65535)");
}

StatusOr<std::chrono::milliseconds> parsePositiveDuration(const std::string& flag, const std::string& text) {
  auto value = parseDuration(text);
  if (!value || value->count() <= 0) {
    return badFlag(flag + ": \"" + text + "\" is not a positive duration such as 15s, 500ms or 2m");
  }
  return *value;
}

}  // namespace

std::string usageText() {
  return R"(Usage: platform-operator [--kubeconfig FILE] [--context NAME] --prometheus-url URL [--namespace NS]
                         [--sync-period 15s] [--leader-elect] [--metrics-port 8081] [other flags]

Scales and heals the Deployments named by ServicePolicy objects (platform.movies.dev/v1alpha1)
from Prometheus metrics. Logs are one JSON object per line on stdout.

Flags:
  --kubeconfig FILE          kubeconfig to use; without it the in-cluster service account is used
  --context NAME             kubeconfig context (default: its current-context)
  --prometheus-url URL       Prometheus base URL, e.g. http://prometheus:9090 (required)
  --namespace NS             watch ServicePolicies in this namespace only (default: all namespaces)
  --sync-period DURATION     resync every policy this often (default 15s)
  --leader-elect             elect a leader with a coordination.k8s.io/v1 Lease; only the holder acts
  --metrics-port PORT        port of /healthz, /readyz and /metrics (default 8081; 0 disables)
  --metrics-bind-address IP  address that port binds (default 0.0.0.0)
  --lease-name NAME          Lease name (default platform-operator)
  --lease-namespace NS       Lease namespace (default: --namespace, else the pod's, else default)
  --identity NAME            this replica's identity in the Lease (default: hostname_pid)
  --lease-duration DURATION  how long a Lease stays valid without renewal (default 15s)
  --renew-deadline DURATION  how long the leader keeps trying to renew before it stops (default 10s)
  --retry-period DURATION    pause between Lease attempts (default 2s)
  --watch-timeout DURATION   ask the API server to end each watch after this long (default 5m)
  --service-account-dir DIR  in-cluster token, CA and namespace (default
                             /var/run/secrets/kubernetes.io/serviceaccount)
  --log-level LEVEL          debug, info, warn or error (default info)
  --help                     print this text and exit
)";
}

namespace {

// What a flag with a value does with it: checks the value and stores it, or says what is wrong.
using Setter = std::function<Status(const std::string&, const std::string&)>;

Setter text(std::string* field) {
  return [field](const std::string& flag, const std::string& value) -> Status {
    if (value.empty()) {
      return badFlag(flag + " needs a non-empty value");
    }
    *field = value;
    return okStatus();
  };
}

Setter duration(std::chrono::milliseconds* field) {
  return [field](const std::string& flag, const std::string& value) -> Status {
    auto parsed = parsePositiveDuration(flag, value);
    if (!parsed.ok()) {
      return parsed.status();
    }
    *field = parsed.value();
    return okStatus();
  };
}

// Every flag that takes a value, and where it goes in *options (--watch-timeout in *watchTimeout, whole
// seconds taken by checkOptions).
std::map<std::string, Setter> valuedFlags(Options* options, std::chrono::milliseconds* watchTimeout) {
  return {
      {"--kubeconfig", text(&options->kubeconfig)},
      {"--context", text(&options->context)},
      {"--prometheus-url", text(&options->prometheusUrl)},
      {"--namespace", text(&options->namespaceName)},
      {"--sync-period", duration(&options->syncPeriod)},
      {"--metrics-port",
       [options](const std::string& flag, const std::string& value) -> Status {
         auto port = parsePort(flag, value);
         if (!port.ok()) {
           return port.status();
         }
         options->metricsPort = port.value();
         return okStatus();
       }},
      {"--metrics-bind-address", text(&options->metricsBindAddress)},
      {"--lease-name", text(&options->leaseName)},
      {"--lease-namespace", text(&options->leaseNamespace)},
      {"--identity", text(&options->identity)},
      {"--lease-duration", duration(&options->leaseDuration)},
      {"--renew-deadline", duration(&options->renewDeadline)},
      {"--retry-period", duration(&options->retryPeriod)},
      {"--watch-timeout", duration(watchTimeout)},
      {"--service-account-dir", text(&options->serviceAccountDir)},
      {"--log-level",
       [options](const std::string& flag, const std::string& value) -> Status {
         log::Level level;
         if (!log::parseLevel(value, &level)) {
           return badFlag(flag + ": \"" + value + "\" is not one of debug, info, warn, error");
         }
         options->logLevel = value;
         return okStatus();
       }},
  };
}

// The rules between flags, once all are read.
Status checkOptions(Options* options, std::chrono::milliseconds watchTimeout) {
  if (options->prometheusUrl.empty()) {
    return badFlag("--prometheus-url is required (see --help)");
  }
  if (options->prometheusUrl.rfind("http://", 0) != 0 && options->prometheusUrl.rfind("https://", 0) != 0) {
    return badFlag("--prometheus-url must start with http:// or https://");
  }
  if (options->renewDeadline >= options->leaseDuration) {
    return badFlag("--renew-deadline must be shorter than --lease-duration");
  }
  if (options->retryPeriod >= options->renewDeadline) {
    return badFlag("--retry-period must be shorter than --renew-deadline");
  }
  options->watchTimeout = std::chrono::duration_cast<std::chrono::seconds>(watchTimeout);
  if (options->watchTimeout.count() < 1) {
    return badFlag("--watch-timeout must be at least 1s");
  }
  return okStatus();
}

}  // namespace

StatusOr<Options> parseOptions(const std::vector<std::string>& args) {
  Options options;
  std::chrono::milliseconds watchTimeout = options.watchTimeout;
  const std::map<std::string, Setter> valued = valuedFlags(&options, &watchTimeout);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool hasValue = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasValue = true;
    }
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      return options;
    }
    if (arg == "--leader-elect") {
      if (hasValue && value != "true" && value != "false") {
        return badFlag("--leader-elect takes no value, or =true / =false");
      }
      options.leaderElect = !hasValue || value == "true";
      continue;
    }
    auto setter = valued.find(arg);
    if (setter == valued.end()) {
      return badFlag("unknown flag \"" + args[i] + "\" (see --help)");
    }
    if (!hasValue) {
      if (i + 1 >= args.size()) {
        return badFlag(arg + " needs a value");
      }
      value = args[++i];
    }
    if (Status set = setter->second(arg, value); !set.ok()) {
      return set;
    }
  }
  if (Status checked = checkOptions(&options, watchTimeout); !checked.ok()) {
    return checked;
  }
  return options;
}

}  // namespace mp::op
