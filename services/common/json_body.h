#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "http/http.h"

namespace mp::http {

// Deepest JSON nesting accepted in a request body; deeper input is refused before parsing.
constexpr int kMaxJsonDepth = 32;

// Checks that a request carries a JSON object (Content-Type application/json, well-formed UTF-8, not
// too deep, an object at the top) and parses it. A failure is kInvalidArgument with the answer to give
// (Response::error(status)): 415 unsupported_media_type, or 400 invalid_json.
StatusOr<nlohmann::json> parseJsonObject(const Request& request);

// Counts Unicode code points of well-formed UTF-8.
size_t utf8Length(const std::string& text);

}  // namespace mp::http
