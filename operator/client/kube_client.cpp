#include "client/kube_client.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace mp::op {
namespace {

using nlohmann::json;

// The Kubernetes Status body of a failed answer gives the reason ("Conflict", "NotFound") and message.
Status statusError(long httpStatus, const std::string& body, const std::string& what) {
  std::string reason = "HTTP" + std::to_string(httpStatus);
  std::string message = what;
  json status = json::parse(body, nullptr, false);
  if (status.is_object()) {
    reason = status.value("reason", reason);
    message = what + ": " + status.value("message", body.substr(0, 200));
  }
  return Status::fromHttp(static_cast<int>(httpStatus), std::move(reason), std::move(message));
}

}  // namespace

std::string resourcePath(const std::string& group, const std::string& version,
                         const std::string& namespaceName, const std::string& plural, const std::string& name,
                         const std::string& subresource) {
  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!namespaceName.empty()) {
    path += "/namespaces/" + namespaceName;
  }
  path += "/" + plural;
  if (!name.empty()) {
    path += "/" + name;
    if (!subresource.empty()) {
      path += "/" + subresource;
    }
  }
  return path;
}

KubeClient::KubeClient(KubeConnection connection, std::string userAgent)
    : connection_(std::move(connection)), userAgent_(std::move(userAgent)), token_(connection_.bearerToken) {}

std::string KubeClient::currentToken() {
  std::lock_guard<std::mutex> lock(tokenMutex_);
  if (connection_.tokenFile.empty()) {
    return token_;
  }
  // Projected service-account tokens are rotated by the kubelet: re-read the file whenever it changes.
  struct stat info {};
  if (stat(connection_.tokenFile.c_str(), &info) == 0 &&
      (info.st_mtim.tv_sec != tokenMtime_.tv_sec || info.st_mtim.tv_nsec != tokenMtime_.tv_nsec ||
       token_.empty())) {
    std::ifstream in(connection_.tokenFile);
    std::ostringstream text;
    text << in.rdbuf();
    std::string token = text.str();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    if (!token.empty()) {
      token_ = token;
      tokenMtime_ = info.st_mtim;
    }
  }
  return token_;
}

std::vector<std::string> KubeClient::headers(const std::string& contentType) {
  std::vector<std::string> out = {"Accept: application/json", "User-Agent: " + userAgent_};
  if (!contentType.empty()) {
    out.push_back("Content-Type: " + contentType);
  }
  if (std::string token = currentToken(); !token.empty()) {
    out.push_back("Authorization: Bearer " + token);
  }
  return out;
}

StatusOr<json> KubeClient::send(const std::string& method, const std::string& path,
                                const std::string& contentType, const std::string& body, Deadline deadline) {
  HttpRequest request;
  request.method = method;
  request.url = connection_.server + path;
  request.headers = headers(contentType);
  request.body = body;
  request.tls = connection_.tls;
  if (deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Status::unavailable(method + " " + path + ": not sent, its deadline has passed")
          .withReason("DeadlineExceeded");
    }
    request.timeoutMs = std::min<long>(request.timeoutMs, static_cast<long>(left.count()));
  }
  auto response = httpPerform(request);
  if (!response.ok()) {
    reachable_ = false;
    return response.status();
  }
  reachable_ = response.value().status < 500;
  const std::string what = method + " " + path;
  if (response.value().status < 200 || response.value().status >= 300) {
    return statusError(response.value().status, response.value().body, what);
  }
  json object = json::parse(response.value().body, nullptr, false);
  if (object.is_discarded()) {
    return Status::fromHttp(static_cast<int>(response.value().status), "BadResponse",
                            what + ": response is not JSON");
  }
  return object;
}

StatusOr<json> KubeClient::get(const std::string& path) {
  return send("GET", path, "", "", std::nullopt);
}

StatusOr<json> KubeClient::create(const std::string& path, const json& object, Deadline deadline) {
  return send("POST", path, "application/json", object.dump(), deadline);
}

StatusOr<json> KubeClient::update(const std::string& path, const json& object, Deadline deadline) {
  return send("PUT", path, "application/json", object.dump(), deadline);
}

StatusOr<json> KubeClient::mergePatch(const std::string& path, const json& patch, Deadline deadline) {
  return send("PATCH", path, "application/merge-patch+json", patch.dump(), deadline);
}

Status KubeClient::remove(const std::string& path, Deadline deadline) {
  auto result = send("DELETE", path, "", "", deadline);
  if (!result.ok()) {
    return result.status();
  }
  return okStatus();
}

Status KubeClient::watch(const std::string& collectionPath, const std::string& resourceVersion,
                         int timeoutSeconds, const std::function<bool(const json&)>& onEvent,
                         const std::atomic<bool>& stop) {
  HttpRequest request;
  request.url = connection_.server + collectionPath +
                "?watch=1&allowWatchBookmarks=false&timeoutSeconds=" + std::to_string(timeoutSeconds) +
                "&resourceVersion=" + urlEncode(resourceVersion);
  request.headers = headers("");
  request.tls = connection_.tls;
  // The server ends the watch after timeoutSeconds; a stream silent for much longer is dead.
  request.timeoutMs = (timeoutSeconds + 30) * 1000L;
  std::string pending;
  std::string errorBody;
  bool keepGoing = true;
  auto onData = [&](std::string_view data) {
    pending.append(data);
    std::size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      if (line.empty()) {
        continue;
      }
      json event = json::parse(line, nullptr, false);
      if (event.is_discarded() || !event.is_object() || !event.contains("type")) {
        // Not a watch event: most likely a Status body of a failed request; kept for the error.
        errorBody += line;
        continue;
      }
      if (!onEvent(event)) {
        keepGoing = false;
        return false;
      }
    }
    return true;
  };
  auto status = httpStream(request, onData, stop);
  if (!status.ok()) {
    reachable_ = false;
    return status.status();
  }
  reachable_ = status.value() < 500;
  if (keepGoing && !stop.load() && (status.value() < 200 || status.value() >= 300)) {
    return statusError(status.value(), errorBody + pending, "WATCH " + collectionPath);
  }
  return okStatus();
}

}  // namespace mp::op
