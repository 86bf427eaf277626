#include "common/log.h"

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
  nlohmann::json line = {{"ts", timestamp()},
                         {"level", kLevelNames[static_cast<int>(level)]},
                         {"service", gService},
                         {"event", event}};
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      line[it.key()] = it.value();
    }
  }
  // Replace invalid UTF-8 (it may come from a client) instead of throwing.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
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
