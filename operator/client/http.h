#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace mp::op {

// How to trust the server and prove who we are over TLS. PEM text wins over a file when both are set.
struct TlsConfig {
  std::string caPem;
  std::string caFile;
  std::string clientCertPem;
  std::string clientKeyPem;
  std::string clientCertFile;
  std::string clientKeyFile;
  bool insecureSkipVerify = false;  // only when a kubeconfig asks for it explicitly
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  long timeoutMs = 10000;  // whole request; for streams, the longest silence tolerated
  TlsConfig tls;
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

// One request with libcurl; a transport failure (refused, timeout, TLS) is kUnavailable with httpStatus 0
// (reason "Timeout" or "Unreachable"). Any HTTP answer is a response, whatever its status.
StatusOr<HttpResponse> httpPerform(const HttpRequest& request);

// Streams a response body to onData until the server ends it, onData returns false or `stop` is set.
// Returns the HTTP status of the response (or a failed Status for a transport failure, as httpPerform).
StatusOr<long> httpStream(const HttpRequest& request, const std::function<bool(std::string_view)>& onData,
                          const std::atomic<bool>& stop);

// Percent-encodes a query parameter value.
std::string urlEncode(std::string_view text);

}  // namespace mp::op
