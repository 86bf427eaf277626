#include "common/config.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace mp {

Environment::Environment(Lookup lookup) : lookup_(std::move(lookup)) {}

std::optional<std::string> Environment::processEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) {
    return std::nullopt;
  }
  return std::string(value);
}

std::optional<std::string> Environment::read(const std::string& name, const std::string& fallback,
                                             const std::string& description, bool required) {
  settings_.push_back({name, required ? "" : fallback, description});
  auto value = lookup_(name);
  if (!value || value->empty()) {
    if (required) {
      errors_.push_back(name + " is required (" + description + ")");
      return std::nullopt;
    }
    return fallback;
  }
  return value;
}

std::string Environment::text(const std::string& name, const std::string& fallback,
                              const std::string& description) {
  return read(name, fallback, description, false).value_or(fallback);
}

std::string Environment::requiredText(const std::string& name, const std::string& description) {
  return read(name, "", description, true).value_or("");
}

std::string Environment::requiredUrl(const std::string& name, const std::vector<std::string>& schemes,
                                     const std::string& description) {
  auto value = read(name, "", description, true);
  if (!value) {
    return "";
  }
  for (const auto& scheme : schemes) {
    if (value->rfind(scheme + "://", 0) == 0 && value->size() > scheme.size() + 3) {
      return *value;
    }
  }
  std::string expected;
  for (const auto& scheme : schemes) {
    expected += (expected.empty() ? "" : " or ") + scheme + "://...";
  }
  // The value may hold a password: name the variable, never echo it.
  errors_.push_back(name + " must be a URL of the form " + expected);
  return "";
}

uint16_t Environment::port(const std::string& name, uint16_t fallback, const std::string& description) {
  return static_cast<uint16_t>(integer(name, fallback, 0, 65535, description));
}

int64_t Environment::integer(const std::string& name, int64_t fallback, int64_t min, int64_t max,
                             const std::string& description) {
  auto value = read(name, std::to_string(fallback), description, false);
  const std::string& text = *value;
  char* end = nullptr;
  errno = 0;
  long long parsed = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || parsed < min || parsed > max) {
    errors_.push_back(name + " must be a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", got \"" + text + "\"");
    return fallback;
  }
  return parsed;
}

std::chrono::milliseconds Environment::duration(const std::string& name, std::chrono::milliseconds fallback,
                                                const std::string& description) {
  auto value = read(name, std::to_string(fallback.count()) + "ms", description, false);
  auto parsed = parseDuration(*value);
  if (!parsed) {
    errors_.push_back(name + " must be a duration like 500ms, 2s or 1m, got \"" + *value + "\"");
    return fallback;
  }
  return *parsed;
}

std::string Environment::choice(const std::string& name, const std::string& fallback,
                                const std::vector<std::string>& allowed, const std::string& description) {
  auto value = read(name, fallback, description, false);
  for (const auto& option : allowed) {
    if (*value == option) {
      return option;
    }
  }
  std::string list;
  for (const auto& option : allowed) {
    list += (list.empty() ? "" : ", ") + option;
  }
  errors_.push_back(name + " must be one of " + list + ", got \"" + *value + "\"");
  return fallback;
}

std::string Environment::help(const std::string& program, const std::string& summary) const {
  std::ostringstream out;
  out << "usage: " << program << " [--help]\n\n" << summary << "\n\nConfiguration (environment variables):\n";
  for (const auto& setting : settings_) {
    out << "  " << setting.name;
    out << std::string(setting.name.size() < 26 ? 26 - setting.name.size() : 1, ' ');
    out << setting.description;
    out << (setting.defaultValue.empty() ? " (required)" : " (default: " + setting.defaultValue + ")")
        << "\n";
  }
  return out.str();
}

void finishConfiguration(const Environment& env, int argc, char** argv, const std::string& summary) {
  std::string program = argc > 0 ? argv[0] : "service";
  program = program.substr(program.find_last_of('/') + 1);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << env.help(program, summary);
      std::exit(0);
    }
    std::cerr << program << ": unknown argument \"" << arg
              << "\" (settings come from the environment; see --help)\n";
    std::exit(2);
  }
  if (!env.errors().empty()) {
    std::cerr << program << ": configuration error: " << env.errors().front() << "\n";
    std::exit(2);
  }
}

}  // namespace mp
