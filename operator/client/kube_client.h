#pragma once

#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/status.h"
#include "client/kube_config.h"

namespace mp::op {

// The path of a resource collection or object: "/apis/apps/v1/namespaces/ns/deployments/name/scale".
// Empty group means the core API (/api/v1); empty namespace means all namespaces (a collection) or a
// cluster-scoped object.
std::string resourcePath(const std::string& group, const std::string& version,
                         const std::string& namespaceName, const std::string& plural,
                         const std::string& name = "", const std::string& subresource = "");

// A thin JSON client for the Kubernetes API over libcurl: verbs in, objects or Status errors out. An
// answer outside 2xx is Status::fromHttp (404 kNotFound, 409 kConflict, 410 kNotFound, 429 kUnavailable,
// ...) with the reason of the server's Status body ("AlreadyExists", "TooManyRequests"); callers branch
// on the code, and on httpStatus() only where one code covers cases they tell apart (410, 429).
// Thread-safety: every method may be called from any thread; requests do not share curl handles.
class KubeClient {
 public:
  KubeClient(KubeConnection connection, std::string userAgent);

  // The instant by which a request must be over: its timeout is cut to what is left (never longer than
  // the usual 10 s), and a request whose deadline has passed is not sent (kUnavailable, reason
  // DeadlineExceeded).
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;

  StatusOr<nlohmann::json> get(const std::string& path);
  StatusOr<nlohmann::json> create(const std::string& path, const nlohmann::json& object,
                                  Deadline deadline = {});
  StatusOr<nlohmann::json> update(const std::string& path, const nlohmann::json& object,
                                  Deadline deadline = {});
  StatusOr<nlohmann::json> mergePatch(const std::string& path, const nlohmann::json& patch,
                                      Deadline deadline = {});
  Status remove(const std::string& path, Deadline deadline = {});

  // Streams watch events ({"type","object"}) of `collectionPath` from `resourceVersion` until the server
  // closes the stream, onEvent returns false or `stop` is set. An ERROR event is passed on like any other.
  Status watch(const std::string& collectionPath, const std::string& resourceVersion, int timeoutSeconds,
               const std::function<bool(const nlohmann::json&)>& onEvent, const std::atomic<bool>& stop);

  // True while the last request reached the API server (any HTTP answer below 500).
  bool reachable() const { return reachable_.load(); }

 private:
  StatusOr<nlohmann::json> send(const std::string& method, const std::string& path,
                                const std::string& contentType, const std::string& body, Deadline deadline);
  std::vector<std::string> headers(const std::string& contentType);
  std::string currentToken();

  const KubeConnection connection_;
  const std::string userAgent_;
  std::atomic<bool> reachable_{false};
  std::mutex tokenMutex_;
  std::string token_;           // guarded by tokenMutex_
  std::timespec tokenMtime_{};  // guarded by tokenMutex_
};

}  // namespace mp::op
