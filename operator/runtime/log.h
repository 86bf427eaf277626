#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace mp::op {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Sets the lowest level written; messages below it are dropped.
void setLogLevel(LogLevel level);

// Writes one JSON line {"ts","level","msg",...fields} to stdout; safe to call from any thread.
void logLine(LogLevel level, std::string_view message,
             const nlohmann::json& fields = nlohmann::json::object());

inline void logInfo(std::string_view message, const nlohmann::json& fields = nlohmann::json::object()) {
  logLine(LogLevel::kInfo, message, fields);
}
inline void logWarn(std::string_view message, const nlohmann::json& fields = nlohmann::json::object()) {
  logLine(LogLevel::kWarn, message, fields);
}
inline void logError(std::string_view message, const nlohmann::json& fields = nlohmann::json::object()) {
  logLine(LogLevel::kError, message, fields);
}

}  // namespace mp::op
