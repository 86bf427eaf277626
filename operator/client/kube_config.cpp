#include "client/kube_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace mp::op {
namespace {

StatusOr<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::invalidArgument("cannot read " + path).withReason("ConfigError");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string resolve(const std::string& base, const std::string& path) {
  if (path.empty() || path.front() == '/') {
    return path;
  }
  auto slash = base.rfind('/');
  return slash == std::string::npos ? path : base.substr(0, slash + 1) + path;
}

// Finds `name` in a kubeconfig list such as clusters: [{name, cluster: {...}}] and returns its `field`.
YAML::Node findNamed(const YAML::Node& list, const std::string& name, const char* field) {
  if (list && list.IsSequence()) {
    for (const YAML::Node& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) {
        return item[field];
      }
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string text(const YAML::Node& node, const char* key) {
  return node && node[key] && node[key].IsScalar() ? node[key].as<std::string>() : std::string();
}

}  // namespace

StatusOr<std::string> base64Decode(const std::string& text) {
  std::string out;
  unsigned int buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '+') {
      value = 62;
    } else if (c == '/') {
      value = 63;
    } else if (c == '=' || c == '\n' || c == '\r' || c == ' ') {
      continue;
    } else {
      return Status::invalidArgument("invalid base64 data").withReason("ConfigError");
    }
    buffer = (buffer << 6) | static_cast<unsigned int>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

StatusOr<KubeConnection> loadKubeconfig(const std::string& path, const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Status::invalidArgument("kubeconfig " + path + ": " + e.what()).withReason("ConfigError");
  }
  try {
    std::string contextName = context.empty() ? text(root, "current-context") : context;
    if (contextName.empty()) {
      return Status::invalidArgument("kubeconfig " + path + " has no current-context; pass --context")
          .withReason("ConfigError");
    }
    YAML::Node ctx = findNamed(root["contexts"], contextName, "context");
    if (!ctx) {
      return Status::invalidArgument("kubeconfig " + path + " has no context \"" + contextName + "\"")
          .withReason("ConfigError");
    }
    std::string clusterName = text(ctx, "cluster");
    YAML::Node cluster = findNamed(root["clusters"], clusterName, "cluster");
    if (!cluster) {
      return Status::invalidArgument("kubeconfig " + path + " has no cluster \"" + clusterName + "\"")
          .withReason("ConfigError");
    }
    KubeConnection conn;
    conn.server = text(cluster, "server");
    while (!conn.server.empty() && conn.server.back() == '/') {
      conn.server.pop_back();
    }
    if (conn.server.empty()) {
      return Status::invalidArgument("cluster \"" + clusterName + "\" has no server")
          .withReason("ConfigError");
    }
    conn.namespaceName = text(ctx, "namespace");
    conn.tls.insecureSkipVerify = text(cluster, "insecure-skip-tls-verify") == "true";
    if (std::string data = text(cluster, "certificate-authority-data"); !data.empty()) {
      auto pem = base64Decode(data);
      if (!pem.ok()) {
        return Status::invalidArgument("certificate-authority-data: " + pem.status().message())
            .withReason("ConfigError");
      }
      conn.tls.caPem = pem.value();
    }
    conn.tls.caFile = resolve(path, text(cluster, "certificate-authority"));

    std::string userName = text(ctx, "user");
    YAML::Node user = findNamed(root["users"], userName, "user");
    if (!userName.empty() && !user) {
      return Status::invalidArgument("kubeconfig " + path + " has no user \"" + userName + "\"")
          .withReason("ConfigError");
    }
    if (user) {
      conn.bearerToken = text(user, "token");
      conn.tokenFile = resolve(path, text(user, "tokenFile"));
      for (auto [key, target] : {std::pair{"client-certificate-data", &conn.tls.clientCertPem},
                                 std::pair{"client-key-data", &conn.tls.clientKeyPem}}) {
        if (std::string data = text(user, key); !data.empty()) {
          auto pem = base64Decode(data);
          if (!pem.ok()) {
            return Status::invalidArgument(std::string(key) + ": " + pem.status().message())
                .withReason("ConfigError");
          }
          *target = pem.value();
        }
      }
      conn.tls.clientCertFile = resolve(path, text(user, "client-certificate"));
      conn.tls.clientKeyFile = resolve(path, text(user, "client-key"));
      if (user["exec"] || user["auth-provider"]) {
        return Status::invalidArgument("user \"" + userName +
                                       "\" uses exec/auth-provider plugins, which are not supported")
            .withReason("ConfigError");
      }
    }
    return conn;
  } catch (const YAML::Exception& e) {
    return Status::invalidArgument("kubeconfig " + path + ": " + e.what()).withReason("ConfigError");
  }
}

StatusOr<KubeConnection> loadInCluster(const std::string& serviceAccountDir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0') {
    return Status::invalidArgument(
               "not running in a cluster (KUBERNETES_SERVICE_HOST unset) and no --kubeconfig given")
        .withReason("ConfigError");
  }
  KubeConnection conn;
  std::string hostText = host;
  // An IPv6 service address needs brackets in a URL.
  if (hostText.find(':') != std::string::npos) {
    hostText = "[" + hostText + "]";
  }
  conn.server = "https://" + hostText + ":" + port;
  conn.tokenFile = serviceAccountDir + "/token";
  auto token = readFile(conn.tokenFile);
  if (!token.ok()) {
    return token.status();
  }
  conn.tls.caFile = serviceAccountDir + "/ca.crt";
  if (auto ns = readFile(serviceAccountDir + "/namespace"); ns.ok()) {
    conn.namespaceName = ns.value();
    while (!conn.namespaceName.empty() &&
           std::isspace(static_cast<unsigned char>(conn.namespaceName.back()))) {
      conn.namespaceName.pop_back();
    }
  }
  return conn;
}

}  // namespace mp::op
