#include "base/duration.h"

#include <cctype>
#include <cstdlib>
#include <string>

namespace mp {
namespace {

constexpr double kMaxMillis = 1e12;

// Milliseconds per unit; 0 for an unknown unit.
double unitMillis(std::string_view unit) {
  if (unit == "ms") {
    return 1;
  }
  if (unit == "s") {
    return 1000;
  }
  if (unit == "m") {
    return 60'000;
  }
  if (unit == "h") {
    return 3'600'000;
  }
  return 0;
}

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  double total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t start = pos;
    while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) {
      ++pos;
    }
    if (start == pos) {
      return std::nullopt;  // a unit without its number, a sign, or garbage
    }
    const std::string number(text.substr(start, pos - start));
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) {
      return std::nullopt;  // "1.2.3"
    }
    const std::size_t unitStart = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) {
      ++pos;
    }
    const std::string_view unit = text.substr(unitStart, pos - unitStart);
    if (unit.empty()) {
      if (start != 0 || pos != text.size()) {
        return std::nullopt;  // a bare number only on its own: "1m30" is malformed
      }
      total = value;
      break;
    }
    const double millis = unitMillis(unit);
    if (millis == 0) {
      return std::nullopt;
    }
    total += value * millis;
  }
  if (total > kMaxMillis) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total));
}

}  // namespace mp
