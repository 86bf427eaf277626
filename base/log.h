#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mp::log {

// One-line JSON logs on stdout: {"ts","level","service","event",...fields}. Thread-safe: lines are written
// whole with a single write(2) each (or a few at once, under a LineBatch), so lines from different threads
// never interleave.
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

// While one lives on a thread, that thread's lines are gathered and written together when it ends, or
// sooner once they pass 3.5 KiB (one write(2) of at most PIPE_BUF bytes: atomic on a pipe). For a loop
// that answers many requests a turn (the HTTP reactor): one write for the turn's access lines instead of
// one each. A warning or an error, and a line longer than the batch, goes out at once after those gathered
// before it. Not nested.
class LineBatch {
 public:
  LineBatch();
  ~LineBatch();
  LineBatch(const LineBatch&) = delete;
  LineBatch& operator=(const LineBatch&) = delete;
};

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
