#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace mp::log {
namespace {

std::string gService = "movie-platform";
std::atomic<int> gMinimum{static_cast<int>(Level::kInfo)};

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + n, sizeof(buffer) - n, ".%03dZ", static_cast<int>(millis));
  return buffer;
}

}  // namespace

void setup(std::string service, Level minimum) {
  gService = std::move(service);
  gMinimum = static_cast<int>(minimum);
}

bool parseLevel(const std::string& text, Level* level) {
  for (int i = 0; i < 4; ++i) {
    if (text == kLevelNames[i]) {
      *level = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

bool enabled(Level level) {
  return static_cast<int>(level) >= gMinimum.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view event, const nlohmann::json& fields) {
  if (!enabled(level)) {
    return;
  }
  // Written member by member, never merged into a copied json object first (docs/performance.md).
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  const bool hasFields = fields.is_object();
  std::string text;
  text.reserve(160);
  auto member = [&](std::string_view key, const nlohmann::json& value) {
    text += text.empty() ? "{\"" : ",\"";
    text += key;
    text += "\":";
    // Replace invalid UTF-8 (it may come from a client) instead of throwing.
    text += value.dump(-1, ' ', false, kReplace);
  };
  // A field of the same name as a standard one wins, as it always has.
  auto standard = [&](std::string_view key, nlohmann::json value) {
    if (!hasFields || !fields.contains(key)) {
      member(key, value);
    }
  };
  standard("ts", timestamp());
  standard("level", kLevelNames[static_cast<int>(level)]);
  standard("service", gService);
  standard("event", event);
  if (hasFields) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      member(it.key(), it.value());
    }
  }
  text += "}\n";
  const char* data = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, data, left);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        continue;
      }
      return;  // stdout gone: nothing useful to do
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace mp::log
