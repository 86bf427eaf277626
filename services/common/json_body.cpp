#include "common/json_body.h"

namespace mp::http {
namespace {

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

std::optional<Response> parseJsonObject(const Request& request, nlohmann::json* out) {
  auto contentType = request.header("content-type");
  if (!contentType || mediaType(*contentType) != "application/json") {
    return Response::error(415, "unsupported_media_type",
                           "the body must be sent with Content-Type: application/json");
  }
  if (!isValidUtf8(request.body)) {
    return Response::error(400, "invalid_json", "the body is not valid UTF-8");
  }
  if (nestingDepth(request.body) > kMaxJsonDepth) {
    return Response::error(400, "invalid_json",
                           "the body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  auto parsed = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Response::error(400, "invalid_json", "the body is not valid JSON");
  }
  if (!parsed.is_object()) {
    return Response::error(400, "invalid_json", "the body must be a JSON object");
  }
  *out = std::move(parsed);
  return std::nullopt;
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
