#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mp::log {

// One-line JSON logs on stdout: {"ts","level","service","event",...fields}. Thread-safe: each line is
// written with a single write(2), so lines from different threads never interleave.
enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Names accepted by LOG_LEVEL.
inline const char* const kLevelNames[] = {"debug", "info", "warn", "error"};

void setup(std::string service, Level minimum);
bool parseLevel(const std::string& text, Level* level);
bool enabled(Level level);
void write(Level level, std::string_view event, const nlohmann::json& fields = nlohmann::json::object());

// The access log's line, {"ts","level":"info","service","event":"http_request","duration_ms","method",
// "path","remote","route","status"}: the line info() writes for these fields, built without a json object
// (one per request: docs/performance.md).
void httpRequest(std::string_view method, std::string_view path, std::string_view route, int status,
                 double durationMs, std::string_view remote);

inline void debug(std::string_view event, const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kDebug, event, fields);
}
inline void info(std::string_view event, const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kInfo, event, fields);
}
inline void warn(std::string_view event, const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kWarn, event, fields);
}
inline void error(std::string_view event, const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kError, event, fields);
}

}  // namespace mp::log
