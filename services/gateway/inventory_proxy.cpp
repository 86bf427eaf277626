#include "gateway/inventory_proxy.h"

#include <curl/curl.h>

#include <strings.h>

#include <memory>
#include <vector>

#include "base/log.h"

namespace mp::gateway {
namespace {

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// One handle per thread: libcurl keeps that thread's upstream connections open between requests.
CURL* threadHandle() {
  thread_local std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
  curl_easy_reset(handle.get());
  return handle.get();
}

// Response headers that carry meaning for the client and come back unchanged; the rest (Connection,
// Content-Length, ...) describe the upstream hop and are the gateway's own business.
constexpr const char* kPassedHeaders[] = {"Location", "Allow", "Retry-After"};

struct Collected {
  std::string body;
  std::string contentType;
  std::vector<std::pair<std::string, std::string>> headers;
};

size_t onBody(char* data, size_t size, size_t count, void* user) {
  static_cast<Collected*>(user)->body.append(data, size * count);
  return size * count;
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  size_t start = text.find_first_not_of(' ');
  return start == std::string::npos ? "" : text.substr(start);
}

size_t onHeader(char* data, size_t size, size_t count, void* user) {
  std::string line(data, size * count);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    auto* collected = static_cast<Collected*>(user);
    if (name == "content-type") {
      collected->contentType = trim(line.substr(colon + 1));
    }
    for (const char* passed : kPassedHeaders) {
      if (strcasecmp(name.c_str(), passed) == 0) {
        collected->headers.emplace_back(passed, trim(line.substr(colon + 1)));
      }
    }
  }
  return size * count;
}

void commonOptions(CURL* curl, const ProxySettings& settings, const std::string& url, Collected* collected) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  // Send the path exactly as received: no "/../" squashing that could reach other upstream routes.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings.connectTimeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, collected);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, collected);
}

}  // namespace

InventoryProxy::InventoryProxy(ProxySettings settings) : settings_(std::move(settings)) {
  while (!settings_.baseUrl.empty() && settings_.baseUrl.back() == '/') {
    settings_.baseUrl.pop_back();
  }
}

http::Response InventoryProxy::forward(const http::Request& request) const {
  CURL* curl = threadHandle();
  Collected collected;
  std::string url =
      settings_.baseUrl + request.path + (request.rawQuery.empty() ? "" : "?" + request.rawQuery);
  commonOptions(curl, settings_, url, &collected);

  std::unique_ptr<curl_slist, HeaderListDeleter> headers;
  auto addHeader = [&](const std::string& line) {
    headers.reset(curl_slist_append(headers.release(), line.c_str()));
  };
  // No "Expect: 100-continue" round trip, and no Accept header curl would invent.
  addHeader("Expect:");
  addHeader("Accept:");
  if (auto contentType = request.header("content-type")) {
    addHeader("Content-Type: " + *contentType);
  } else {
    addHeader("Content-Type:");
  }
  if (auto accept = request.header("accept")) {
    addHeader("Accept: " + *accept);
  }
  if (!request.remoteAddress.empty()) {
    addHeader("X-Forwarded-For: " + request.remoteAddress);
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());

  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
  }

  CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    bool timedOut = code == CURLE_OPERATION_TIMEDOUT;
    // Zero when the request never got onto a connection (new or reused).
    curl_off_t requestSent = 0;
    curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &requestSent);
    log::warn("upstream_failed", {{"upstream", "inventory-app"}, {"reason", curl_easy_strerror(code)}});
    // A connect that timed out is an unreachable upstream (502); a slow answer is a timeout (504).
    if (timedOut && requestSent > 0) {
      return http::Response::error(
          504, "upstream_timeout",
          "inventory-app did not answer within " + std::to_string(settings_.timeout.count()) + " ms");
    }
    return http::Response::error(
        502, "upstream_unavailable",
        std::string("inventory-app could not be reached: ") + curl_easy_strerror(code));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  http::Response response;
  response.status = static_cast<int>(status);
  response.body = std::move(collected.body);
  response.contentType = collected.contentType.empty() ? "application/octet-stream" : collected.contentType;
  response.headers = std::move(collected.headers);
  return response;
}

Status InventoryProxy::reachable() const {
  CURL* curl = threadHandle();
  Collected collected;
  commonOptions(curl, settings_, settings_.baseUrl + "/healthz", &collected);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
  CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (code != CURLE_OK || status != 200) {
    return Status::unavailable(std::string("inventory-app: ") +
                               (code != CURLE_OK ? curl_easy_strerror(code) : "not healthy"));
  }
  return okStatus();
}

}  // namespace mp::gateway
