#include "base/log.h"

#include "base/json_text.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>

namespace mp::log {
namespace {

std::string gService = "movie-platform";
std::atomic<int> gMinimum{static_cast<int>(Level::kInfo)};

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  // The date and time to the second change once a second: formatted then, per thread.
  thread_local std::time_t cachedSecond = -1;
  thread_local char cached[32];
  thread_local size_t cachedLength = 0;
  if (seconds != cachedSecond) {
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    cachedLength = std::strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &utc);
    cachedSecond = seconds;
  }
  char buffer[40];
  std::memcpy(buffer, cached, cachedLength);
  std::snprintf(buffer + cachedLength, sizeof(buffer) - cachedLength, ".%03dZ", static_cast<int>(millis));
  return buffer;
}

// The lines of this thread's LineBatch, while one lives.
constexpr size_t kBatchBytes = 3584;
thread_local bool batching = false;
thread_local std::string batched;

void writeAll(const std::string& text) {
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

void flushBatch() {
  if (!batched.empty()) {
    writeAll(batched);
    batched.clear();
  }
}

// `urgent` (a warning or an error): written at once, after the lines gathered before it, so that a crash
// right after it cannot take it along.
void writeLine(const std::string& text, bool urgent) {
  if (!batching) {
    writeAll(text);
    return;
  }
  if (batched.size() + text.size() > kBatchBytes) {
    flushBatch();
  }
  batched += text;
  if (urgent || batched.size() > kBatchBytes) {
    flushBatch();
  }
}

}  // namespace

LineBatch::LineBatch() {
  batching = true;
}

LineBatch::~LineBatch() {
  flushBatch();
  batching = false;
}

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
  writeLine(text, level >= Level::kWarn);
}

void httpRequest(std::string_view method, std::string_view path, std::string_view route, int status,
                 double durationMs, std::string_view remote) {
  if (!enabled(Level::kInfo)) {
    return;
  }
  // The members in json's (sorted) order, as write() gives them.
  std::string text;
  text.reserve(200 + path.size());
  text += "{\"ts\":\"";
  text += timestamp();
  text += "\",\"level\":\"info\",\"service\":";
  appendJsonString(text, gService);
  text += ",\"event\":\"http_request\",\"duration_ms\":";
  char number[32];
  auto written = std::to_chars(number, number + sizeof number, durationMs);
  std::string_view digits(number, static_cast<size_t>(written.ptr - number));
  text += digits;
  // json writes a whole double as "2.0".
  if (digits.find_first_of(".eEn") == std::string_view::npos) {
    text += ".0";
  }
  text += ",\"method\":";
  appendJsonString(text, method);
  text += ",\"path\":";
  appendJsonString(text, path);
  text += ",\"remote\":";
  appendJsonString(text, remote);
  text += ",\"route\":";
  appendJsonString(text, route);
  text += ",\"status\":";
  text += std::to_string(status);
  text += "}\n";
  writeLine(text, false);
}

}  // namespace mp::log
