#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"

namespace mp {

// Reads a service's settings from environment variables, typed and validated, collecting one clear
// message per bad or missing variable. Not thread-safe; used once at start from main().
class Environment {
 public:
  using Lookup = std::function<std::optional<std::string>(const std::string&)>;

  // Describes one variable for --help.
  struct Setting {
    std::string name;
    std::string defaultValue;  // empty: required
    std::string description;
  };

  explicit Environment(Lookup lookup = processEnvironment);

  std::string text(const std::string& name, const std::string& fallback, const std::string& description);
  std::string requiredText(const std::string& name, const std::string& description);
  std::string requiredUrl(const std::string& name, const std::vector<std::string>& schemes,
                          const std::string& description);
  uint16_t port(const std::string& name, uint16_t fallback, const std::string& description);
  int64_t integer(const std::string& name, int64_t fallback, int64_t min, int64_t max,
                  const std::string& description);
  // Accepts the syntax of parseDuration (base/duration.h): "250ms", "2s", "1h30m", or milliseconds "1500".
  std::chrono::milliseconds duration(const std::string& name, std::chrono::milliseconds fallback,
                                     const std::string& description);
  std::string choice(const std::string& name, const std::string& fallback,
                     const std::vector<std::string>& allowed, const std::string& description);

  // Records a problem found by a check beyond the typed readers (e.g. a URL's inner parts).
  void reportError(std::string message) { errors_.push_back(std::move(message)); }

  const std::vector<std::string>& errors() const { return errors_; }
  const std::vector<Setting>& settings() const { return settings_; }

  // The usage text listing every setting read so far.
  std::string help(const std::string& program, const std::string& summary) const;

  static std::optional<std::string> processEnvironment(const std::string& name);

 private:
  std::optional<std::string> read(const std::string& name, const std::string& fallback,
                                  const std::string& description, bool required);

  Lookup lookup_;
  std::vector<std::string> errors_;
  std::vector<Setting> settings_;
};

// For main(): prints --help and exits 0, or the first configuration error as one line and exits 2.
void finishConfiguration(const Environment& env, int argc, char** argv, const std::string& summary);

}  // namespace mp
