#pragma once

#include <string>

#include "base/status.h"
#include "client/http.h"

namespace mp::op {

// Where the API server is and how to authenticate: what a kubeconfig context or a pod's service account
// yields. A tokenFile is re-read when it changes (projected service-account tokens rotate).
struct KubeConnection {
  std::string server;  // "https://host:port", no trailing slash
  TlsConfig tls;
  std::string bearerToken;
  std::string tokenFile;
  std::string namespaceName;  // the context's namespace or the pod's own; may be empty
};

// Reads a kubeconfig with yaml-cpp: the named context, or current-context when `context` is empty.
// Relative file paths in it are resolved against the kubeconfig's directory, as kubectl does.
StatusOr<KubeConnection> loadKubeconfig(const std::string& path, const std::string& context);

// The in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT from the environment and the token, CA and
// namespace under `serviceAccountDir` (normally /var/run/secrets/kubernetes.io/serviceaccount).
StatusOr<KubeConnection> loadInCluster(const std::string& serviceAccountDir);

// RFC 4648 base64 (kubeconfig *-data fields); kInvalidArgument on malformed input.
StatusOr<std::string> base64Decode(const std::string& text);

}  // namespace mp::op
