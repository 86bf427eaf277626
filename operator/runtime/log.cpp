#include "runtime/log.h"

#include <atomic>
#include <iostream>
#include <mutex>

#include "runtime/time_format.h"

namespace mp::op {
namespace {

std::atomic<LogLevel> gLevel{LogLevel::kInfo};
std::mutex gWriteMutex;

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

void setLogLevel(LogLevel level) {
  gLevel = level;
}

void logLine(LogLevel level, std::string_view message, const nlohmann::json& fields) {
  if (level < gLevel.load()) {
    return;
  }
  // Insertion order kept so that every line starts with ts, level, msg.
  nlohmann::ordered_json line = {{"ts", formatRfc3339(WallClock::now(), true)},
                                 {"level", levelName(level)},
                                 {"msg", std::string(message)}};
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      line[key] = value;
    }
  }
  // Replace invalid UTF-8 rather than throw: log text may carry bytes from the network.
  std::string text = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::lock_guard<std::mutex> lock(gWriteMutex);
  std::cout << text << '\n' << std::flush;
}

}  // namespace mp::op
