#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace mp::http {

// One HTTP request as handlers see it: decoded query, lower-case header names, route parameters.
// A plain value: safe to copy to another thread.
struct Request {
  std::string method;                                        // upper case, e.g. "GET"
  std::string path;                                          // without the query string, not decoded
  std::string rawQuery;                                      // as received, without '?'
  std::vector<std::pair<std::string, std::string>> query;    // percent-decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower case
  std::vector<std::pair<std::string, std::string>> params;   // from the route template, e.g. {"id","42"}
  std::string body;
  std::string remoteAddress;

  std::optional<std::string> header(std::string_view lowerName) const;
  std::optional<std::string> queryParam(std::string_view name) const;
  std::optional<std::string> param(std::string_view name) const;
};

// One HTTP response: status, body, content type and extra headers.
struct Response {
  int status = 200;
  std::string body;
  std::string contentType = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  static Response json(int status, const nlohmann::json& body);
  // The same with the members in the order they were added (nlohmann::json sorts them by name).
  static Response jsonInOrder(int status, const nlohmann::ordered_json& body);
  // The error shape of docs/openapi.yaml: {"error": "<short_code>", "message": "<human sentence>"}.
  static Response error(int status, std::string_view code, std::string_view message);
  // A failed Status as that shape: its HTTP status and reason as the status and code (Status::fromHttp),
  // or when it has none, by its code (invalid argument 400 bad_request, not found 404 not_found,
  // conflict 409 conflict, unavailable 503 unavailable, internal 500 internal_error); "field" too when
  // it names one. With the headers those answers call for: Retry-After when the Status says when
  // (retryAfter()), and on a 401 the challenge of the platform's one scheme (RFC 9110 requires one),
  // `WWW-Authenticate: Bearer realm="movie-platform"`.
  static Response error(const Status& status);
};

// Decodes %XX escapes (and '+' as space when formEncoded); nullopt on a malformed escape.
std::optional<std::string> percentDecode(std::string_view text, bool formEncoded);

// Splits "a=1&b=%25" into decoded pairs; nullopt when an escape is malformed.
std::optional<std::vector<std::pair<std::string, std::string>>> parseQuery(std::string_view rawQuery);

// The inverse of parseQuery: "name=value" pairs joined by '&', every byte but RFC 3986's unreserved ones
// (A-Z a-z 0-9 - . _ ~) as %XX, so the text is a valid query whatever the pairs hold (a '+' stays a '+').
std::string formatQuery(const std::vector<std::pair<std::string, std::string>>& pairs);

// True when the bytes are well-formed UTF-8 (no overlongs, no surrogates).
bool isValidUtf8(std::string_view text);

// Media type of a Content-Type value, lower case, without parameters ("application/json").
std::string mediaType(std::string_view contentType);

// Reason phrase for a status code ("Not Found").
const char* reasonPhrase(int status);

}  // namespace mp::http
