#pragma once

#include <string>
#include <string_view>

namespace mp {

// Appends `value` as a JSON string, byte for byte what nlohmann::json's dump(-1, ' ', false, replace)
// writes (invalid UTF-8 replaced by U+FFFD): for writers of fixed shapes (a log line, a movie) that
// need no json object. Plain printable ASCII is copied as it is; anything else goes through json.
void appendJsonString(std::string& text, std::string_view value);

}  // namespace mp
