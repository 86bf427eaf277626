#include "runtime/time_format.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace mp::op {

std::string formatRfc3339(WallTime time, bool microseconds) {
  auto sinceEpoch = time.time_since_epoch();
  auto seconds = std::chrono::floor<std::chrono::seconds>(sinceEpoch);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(sinceEpoch - seconds).count();
  std::time_t raw = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&raw, &utc);
  char buffer[40];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
  std::string text = buffer;
  if (microseconds) {
    char fraction[32];
    std::snprintf(fraction, sizeof(fraction), ".%06lld", static_cast<long long>(micros));
    text += fraction;
  }
  return text + "Z";
}

std::optional<WallTime> parseRfc3339(std::string_view text) {
  std::tm parts{};
  int consumed = 0;
  std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon, &parts.tm_mday,
                  &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  std::time_t seconds = timegm(&parts);
  std::size_t pos = static_cast<std::size_t>(consumed);
  long long micros = 0;
  if (pos < copy.size() && copy[pos] == '.') {
    ++pos;
    long long scale = 100000;
    while (pos < copy.size() && std::isdigit(static_cast<unsigned char>(copy[pos]))) {
      micros += (copy[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
  }
  long long offsetSeconds = 0;
  if (pos < copy.size() && (copy[pos] == 'Z' || copy[pos] == 'z')) {
    ++pos;
  } else if (pos < copy.size() && (copy[pos] == '+' || copy[pos] == '-')) {
    int hours = 0;
    int minutes = 0;
    if (std::sscanf(copy.c_str() + pos + 1, "%2d:%2d", &hours, &minutes) != 2) {
      return std::nullopt;
    }
    offsetSeconds = (hours * 3600LL + minutes * 60LL) * (copy[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != copy.size()) {
    return std::nullopt;
  }
  return WallClock::from_time_t(seconds - offsetSeconds) + std::chrono::microseconds(micros);
}

}  // namespace mp::op
