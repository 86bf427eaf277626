#include "client/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace mp::op {
namespace {

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using HeaderList = std::unique_ptr<curl_slist, HeaderListDeleter>;

// curl_global_init is not thread-safe; the first request of any thread runs it exactly once.
CurlHandle newHandle() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return CurlHandle(curl_easy_init());
}

size_t appendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct StreamState {
  const std::function<bool(std::string_view)>* onData;
  const std::atomic<bool>* stop;
  bool stoppedByCaller = false;
};

size_t streamBody(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<StreamState*>(user);
  if (state->stop->load() || !(*state->onData)(std::string_view(data, size * count))) {
    state->stoppedByCaller = true;
    return 0;  // makes curl abort the transfer
  }
  return size * count;
}

int checkStop(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* state = static_cast<StreamState*>(user);
  if (state->stop->load()) {
    state->stoppedByCaller = true;
    return 1;
  }
  return 0;
}

void setBlob(CURL* handle, CURLoption option, const std::string& pem) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(handle, option, &blob);
}

// Common options for both plain and streaming requests; returns the header list the handle points at.
HeaderList configure(CURL* handle, const HttpRequest& request) {
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  }
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  const TlsConfig& tls = request.tls;
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, tls.insecureSkipVerify ? 0L : 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, tls.insecureSkipVerify ? 0L : 2L);
  if (!tls.caPem.empty()) {
    setBlob(handle, CURLOPT_CAINFO_BLOB, tls.caPem);
  } else if (!tls.caFile.empty()) {
    curl_easy_setopt(handle, CURLOPT_CAINFO, tls.caFile.c_str());
  }
  if (!tls.clientCertPem.empty()) {
    setBlob(handle, CURLOPT_SSLCERT_BLOB, tls.clientCertPem);
    curl_easy_setopt(handle, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!tls.clientCertFile.empty()) {
    curl_easy_setopt(handle, CURLOPT_SSLCERT, tls.clientCertFile.c_str());
  }
  if (!tls.clientKeyPem.empty()) {
    setBlob(handle, CURLOPT_SSLKEY_BLOB, tls.clientKeyPem);
    curl_easy_setopt(handle, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!tls.clientKeyFile.empty()) {
    curl_easy_setopt(handle, CURLOPT_SSLKEY, tls.clientKeyFile.c_str());
  }
  curl_slist* list = nullptr;
  for (const std::string& header : request.headers) {
    list = curl_slist_append(list, header.c_str());
  }
  // libcurl would otherwise send "Expect: 100-continue" for larger bodies and wait for an answer.
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, list);
  return HeaderList(list);
}

Status transportError(CURLcode code, const std::string& url) {
  return Status::unavailable(url + ": " + curl_easy_strerror(code))
      .withReason(code == CURLE_OPERATION_TIMEDOUT ? "Timeout" : "Unreachable");
}

}  // namespace

StatusOr<HttpResponse> httpPerform(const HttpRequest& request) {
  CurlHandle handle = newHandle();
  if (!handle) {
    return Status::internal("curl_easy_init failed").withReason("Internal");
  }
  HeaderList headers = configure(handle.get(), request);
  HttpResponse response;
  curl_easy_setopt(handle.get(), CURLOPT_TIMEOUT_MS, request.timeoutMs);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &response.body);
  CURLcode code = curl_easy_perform(handle.get());
  if (code != CURLE_OK) {
    return transportError(code, request.url);
  }
  curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

StatusOr<long> httpStream(const HttpRequest& request, const std::function<bool(std::string_view)>& onData,
                          const std::atomic<bool>& stop) {
  CurlHandle handle = newHandle();
  if (!handle) {
    return Status::internal("curl_easy_init failed").withReason("Internal");
  }
  HeaderList headers = configure(handle.get(), request);
  StreamState state{&onData, &stop};
  curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, streamBody);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(handle.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(handle.get(), CURLOPT_XFERINFOFUNCTION, checkStop);
  curl_easy_setopt(handle.get(), CURLOPT_XFERINFODATA, &state);
  // A watch is long-lived: only a connection silent for timeoutMs counts as dead.
  curl_easy_setopt(handle.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle.get(), CURLOPT_LOW_SPEED_TIME, std::max(1L, request.timeoutMs / 1000));
  CURLcode code = curl_easy_perform(handle.get());
  long status = 0;
  curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &status);
  if (code != CURLE_OK && !state.stoppedByCaller) {
    return transportError(code, request.url);
  }
  return status;
}

std::string urlEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace mp::op
