#include "http/http.h"

#include <algorithm>
#include <cctype>

namespace mp::http {
namespace {

std::optional<std::string> findValue(const std::vector<std::pair<std::string, std::string>>& items,
                                     std::string_view name) {
  for (const auto& [key, value] : items) {
    if (key == name) {
      return value;
    }
  }
  return std::nullopt;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::optional<std::string> Request::header(std::string_view lowerName) const {
  return findValue(headers, lowerName);
}
std::optional<std::string> Request::queryParam(std::string_view name) const {
  return findValue(query, name);
}
std::optional<std::string> Request::param(std::string_view name) const {
  return findValue(params, name);
}

namespace {

template <typename Json>
Response jsonResponse(int status, const Json& body) {
  Response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return response;
}

}  // namespace

Response Response::json(int status, const nlohmann::json& body) {
  return jsonResponse(status, body);
}

Response Response::jsonInOrder(int status, const nlohmann::ordered_json& body) {
  return jsonResponse(status, body);
}

Response Response::error(int status, std::string_view code, std::string_view message) {
  return json(status, {{"error", code}, {"message", message}});
}

Response Response::error(const Status& status) {
  int httpStatus = 500;
  std::string code = "internal_error";
  switch (status.code()) {
    case Code::kInvalidArgument:
      httpStatus = 400, code = "bad_request";
      break;
    case Code::kNotFound:
      httpStatus = 404, code = "not_found";
      break;
    case Code::kConflict:
      httpStatus = 409, code = "conflict";
      break;
    case Code::kUnavailable:
      httpStatus = 503, code = "unavailable";
      break;
    case Code::kOk:
    case Code::kInternal:
      break;
  }
  if (status.httpStatus() != 0) {
    httpStatus = status.httpStatus();
  }
  if (!status.reason().empty()) {
    code = status.reason();
  }
  nlohmann::json body = {{"error", code}, {"message", status.message()}};
  if (!status.field().empty()) {
    body["field"] = status.field();
  }
  Response response = json(httpStatus, body);
  if (status.retryAfter().count() > 0) {
    response.headers.emplace_back("Retry-After", std::to_string(status.retryAfter().count()));
  }
  if (httpStatus == 401) {
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"movie-platform\"");
  }
  return response;
}

std::optional<std::string> percentDecode(std::string_view text, bool formEncoded) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      int high = hexValue(text[i + 1]);
      int low = hexValue(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && formEncoded) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parseQuery(std::string_view rawQuery) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t start = 0;
  while (start <= rawQuery.size()) {
    size_t end = rawQuery.find('&', start);
    if (end == std::string_view::npos) {
      end = rawQuery.size();
    }
    std::string_view part = rawQuery.substr(start, end - start);
    if (!part.empty()) {
      size_t eq = part.find('=');
      auto key = percentDecode(part.substr(0, eq), true);
      auto value = percentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
      if (!key || !value) {
        return std::nullopt;
      }
      pairs.emplace_back(std::move(*key), std::move(*value));
    }
    start = end + 1;
  }
  return pairs;
}

namespace {

void appendQueryComponent(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0f]);
    }
  }
}

}  // namespace

std::string formatQuery(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) {
      out.push_back('&');
    }
    appendQueryComponent(out, name);
    out.push_back('=');
    appendQueryComponent(out, value);
  }
  return out;
}

bool isValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t extra;
    uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) {
      return false;
    }
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) {
        return false;
      }
      code = (code << 6) | (next & 0x3F);
    }
    static const uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string mediaType(std::string_view contentType) {
  std::string_view type = contentType.substr(0, contentType.find(';'));
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) {
    type.remove_suffix(1);
  }
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.front()))) {
    type.remove_prefix(1);
  }
  std::string lower(type);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

}  // namespace mp::http
