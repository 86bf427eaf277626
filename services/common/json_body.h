#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/http.h"

namespace mp::http {

// Deepest JSON nesting accepted in a request body; deeper input is refused before parsing.
constexpr int kMaxJsonDepth = 32;

// Checks that a request carries a JSON object (Content-Type application/json, well-formed UTF-8, not
// too deep, an object at the top) and parses it into *out. On failure returns the error to answer.
std::optional<Response> parseJsonObject(const Request& request, nlohmann::json* out);

// Counts Unicode code points of well-formed UTF-8.
size_t utf8Length(const std::string& text);

}  // namespace mp::http
