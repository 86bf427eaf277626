#include "base/json_text.h"

#include <nlohmann/json.hpp>

namespace mp {

void appendJsonString(std::string& text, std::string_view value) {
  for (char c : value) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e || c == '"' || c == '\\') {
      text +=
          nlohmann::json(std::string(value)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
  }
  text += '"';
  text += value;
  text += '"';
}

}  // namespace mp
