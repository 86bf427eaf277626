#include "common/json_body.h"

#include <set>
#include <vector>

namespace mp::http {
namespace {

Status invalidJson(std::string message) {
  return Status::fromHttp(400, "invalid_json", std::move(message));
}

// Nesting depth of JSON text, ignoring brackets inside strings; stops counting past the limit.
int nestingDepth(const std::string& text) {
  int depth = 0;
  int deepest = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inString = false;
      }
    } else if (c == '"') {
      inString = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > kMaxJsonDepth) {
        return deepest;
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

StatusOr<nlohmann::json> parseJsonObject(const Request& request) {
  auto contentType = request.header("content-type");
  if (!contentType || mediaType(*contentType) != "application/json") {
    return Status::fromHttp(415, "unsupported_media_type",
                            "the body must be sent with Content-Type: application/json");
  }
  if (!isValidUtf8(request.body)) {
    return invalidJson("the body is not valid UTF-8");
  }
  if (nestingDepth(request.body) > kMaxJsonDepth) {
    return invalidJson("the body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (request.body.find('\0') != std::string::npos) {
    // Never valid in JSON text, and nlohmann would stop reading at it and accept what came before.
    return invalidJson("the body contains a NUL byte");
  }
  // A key given twice is refused: parsers disagree on which value wins (first or last), and a
  // request that means different things to different readers is an attack, not an input.
  std::vector<std::set<std::string>> keysPerObject;
  bool duplicate = false;
  auto checkKeys = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::object_start) {
      keysPerObject.emplace_back();
    } else if (event == nlohmann::json::parse_event_t::object_end && !keysPerObject.empty()) {
      keysPerObject.pop_back();
    } else if (event == nlohmann::json::parse_event_t::key && !keysPerObject.empty() &&
               !keysPerObject.back().insert(parsed.get<std::string>()).second) {
      duplicate = true;
    }
    return true;
  };
  auto parsed = nlohmann::json::parse(request.body, checkKeys, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return invalidJson("the body is not valid JSON");
  }
  if (duplicate) {
    return invalidJson("the body has a key twice in one object");
  }
  if (!parsed.is_object()) {
    return invalidJson("the body must be a JSON object");
  }
  return parsed;
}

size_t utf8Length(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) {
      ++count;
    }
  }
  return count;
}

}  // namespace mp::http
