#include "gateway/inventory_proxy.h"

#include <curl/curl.h>

#include <strings.h>

#include <memory>

#include "base/log.h"

namespace mp::gateway {
namespace {

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};

// One handle per thread: libcurl keeps that thread's upstream connections open between requests.
CURL* threadHandle() {
  thread_local std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
  curl_easy_reset(handle.get());
  return handle.get();
}

// Response headers that carry meaning for the client and come back unchanged; the rest (Connection,
// Content-Length, ...) describe the upstream hop and are the gateway's own business.
constexpr const char* kPassedHeaders[] = {"Location", "Allow", "Retry-After", "Link"};

// The readiness check needs the status alone: the body is read and dropped.
size_t discardBody(char*, size_t size, size_t count, void*) {
  return size * count;
}

// "http://host:port" (what config.cpp's requiredUrl accepted) as host and port.
UpstreamSettings upstreamOf(const ProxySettings& settings, std::string* hostHeader) {
  UpstreamSettings upstream;
  std::string authority = settings.baseUrl.substr(settings.baseUrl.find("://") + 3);
  authority = authority.substr(0, authority.find('/'));
  *hostHeader = authority;
  size_t colon = authority.rfind(':');
  size_t bracket = authority.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    upstream.port = static_cast<uint16_t>(std::stoi(authority.substr(colon + 1)));
    authority.resize(colon);
  }
  if (authority.size() > 1 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
  }
  upstream.host = authority;
  upstream.connectTimeout = settings.connectTimeout;
  upstream.timeout = settings.timeout;
  upstream.maxConnections = settings.maxConnections;
  upstream.connectionMaxAge = settings.connectionMaxAge;
  upstream.connectionMaxRequests = settings.connectionMaxRequests;
  upstream.loops = settings.loops;
  upstream.hosted = settings.hosted;
  return upstream;
}

// inventory-app's answer as the gateway's: status, body, Content-Type and the kPassedHeaders.
http::Response passedOn(UpstreamAnswer answer) {
  http::Response response;
  response.status = answer.status;
  response.body = std::move(answer.body);
  response.contentType.clear();
  for (auto& [name, value] : answer.headers) {
    if (name == "content-type") {
      response.contentType = std::move(value);
      continue;
    }
    for (const char* passed : kPassedHeaders) {
      if (strcasecmp(name.c_str(), passed) == 0) {
        response.headers.emplace_back(passed, std::move(value));
      }
    }
  }
  if (response.contentType.empty()) {
    response.contentType = "application/octet-stream";
  }
  return response;
}

// The gateway's answer when inventory-app gave none (upstream_client.h names the causes): 504 on a
// timeout, 503 when too many requests wait, 502 otherwise.
http::Response failureAnswer(const Status& failure, long long timeoutMs) {
  if (failure.reason() == kUpstreamTimedOut) {
    return http::Response::error(504, "upstream_timeout",
                                 "inventory-app did not answer within " + std::to_string(timeoutMs) + " ms");
  }
  if (failure.reason() == kUpstreamOverloaded) {
    return http::Response::error(503, "overloaded", "too many requests are waiting; retry shortly");
  }
  return http::Response::error(502, "upstream_unavailable",
                               "inventory-app could not be reached: " + failure.message());
}

}  // namespace

InventoryProxy::InventoryProxy(ProxySettings settings) : settings_(std::move(settings)) {
  while (!settings_.baseUrl.empty() && settings_.baseUrl.back() == '/') {
    settings_.baseUrl.pop_back();
  }
  client_ = std::make_unique<UpstreamClient>(upstreamOf(settings_, &hostHeader_));
}

std::string InventoryProxy::requestBytes(const http::Request& request) const {
  // The path goes up exactly as received: no "/../" squashing that could reach other upstream routes.
  std::string bytes;
  bytes.reserve(256 + request.path.size() + request.rawQuery.size() + request.body.size());
  bytes += request.method;
  bytes += ' ';
  bytes += request.path;
  if (!request.rawQuery.empty()) {
    bytes += '?';
    bytes += request.rawQuery;
  }
  bytes += " HTTP/1.1\r\nHost: ";
  bytes += hostHeader_;
  bytes += "\r\n";
  // An empty value goes nowhere: "Accept:" alone is not a valid request header (and Pistache 0.0.5's
  // parser hands every Accept header on empty).
  if (auto contentType = request.header("content-type"); contentType && !contentType->empty()) {
    bytes += "Content-Type: " + *contentType + "\r\n";
  }
  if (auto accept = request.header("accept"); accept && !accept->empty()) {
    bytes += "Accept: " + *accept + "\r\n";
  }
  if (!request.remoteAddress.empty()) {
    bytes += "X-Forwarded-For: " + request.remoteAddress + "\r\n";
  }
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    bytes += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  bytes += "\r\n";
  bytes += request.body;
  return bytes;
}

void InventoryProxy::forward(const http::Request& request, std::function<void(http::Response)> reply) const {
  const long long timeoutMs = settings_.timeout.count();
  client_->send(requestBytes(request), request.method == "HEAD",
                [reply = std::move(reply), timeoutMs](StatusOr<UpstreamAnswer> result) {
                  if (!result.ok()) {
                    log::warn("upstream_failed",
                              {{"upstream", "inventory-app"}, {"reason", result.status().message()}});
                    reply(failureAnswer(result.status(), timeoutMs));
                    return;
                  }
                  reply(passedOn(std::move(result).value()));
                });
}

namespace {

// At most this much of a passed-on body waits to go out to the client before inventory-app's connection
// is read again: the gateway holds about this per streamed answer, whatever its size.
constexpr size_t kPassWindow = 256 * 1024;

// A chunked answer of inventory-app's, passed on to the client as it comes (UpstreamStream).
class PassThrough : public UpstreamStream {
 public:
  explicit PassThrough(std::shared_ptr<http::ResponseStream> answer) : answer_(std::move(answer)) {}

  void head(int status, const std::vector<std::pair<std::string, std::string>>& headers) override {
    answer_->begin(passedOn(UpstreamAnswer{status, headers, ""}));
  }

  bool piece(std::string bytes, std::function<void()> resume) override {
    answer_->write(bytes);
    if (answer_->unwritten() <= kPassWindow) {
      return true;
    }
    // Read on once half the window is out: not a wake-up per write.
    answer_->whenDrained(kPassWindow / 2, std::move(resume));
    return false;
  }

 private:
  std::shared_ptr<http::ResponseStream> answer_;
};

}  // namespace

void InventoryProxy::forwardStreaming(const http::Request& request,
                                      std::shared_ptr<http::ResponseStream> answer) const {
  const long long timeoutMs = settings_.timeout.count();
  auto stream = std::make_shared<PassThrough>(answer);
  client_->send(
      requestBytes(request), request.method == "HEAD",
      [answer, timeoutMs](StatusOr<UpstreamAnswer> result) {
        if (!result.ok()) {
          log::warn("upstream_failed", {{"upstream", "inventory-app"},
                                        {"reason", result.status().message()},
                                        {"streaming", answer->begun()}});
          if (answer->begun()) {
            answer->abort();  // the client sees its body cut short, as inventory-app's was
          } else {
            answer->send(failureAnswer(result.status(), timeoutMs));
          }
          return;
        }
        if (answer->begun()) {
          answer->end();
        } else {
          answer->send(passedOn(std::move(result).value()));
        }
      },
      std::move(stream));
}

Status InventoryProxy::reachable() const {
  CURL* curl = threadHandle();
  const std::string url = settings_.baseUrl + "/healthz";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.connectTimeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discardBody);
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
