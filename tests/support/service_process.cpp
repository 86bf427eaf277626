#include "support/service_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mp::test {

ServiceProcess::ServiceProcess(std::string binary, EnvironmentOverrides environment,
                               std::vector<std::string> args)
    : binary_(std::move(binary)), environment_(std::move(environment)), args_(std::move(args)) {
  char path[] = "/tmp/mp-service-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) {
    close(fd);
  }
  outputPath_ = path;
}

ServiceProcess::~ServiceProcess() {
  kill();
  unlink(outputPath_.c_str());
}

std::string ServiceProcess::binaryFromEnvironment(const std::string& variable) {
  const char* value = std::getenv(variable.c_str());
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(variable + " is not set: run the tests with ctest (scripts/test)");
  }
  return value;
}

bool ServiceProcess::spawn() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [key, value] : environment_) {
      overridden = overridden || key == name;
    }
    if (!overridden) {
      env.push_back(entry);
    }
  }
  for (const auto& [key, value] : environment_) {
    env.push_back(key + "=" + value);
  }
  std::vector<char*> envp;
  for (auto& entry : env) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> argStorage = {binary_};
  argStorage.insert(argStorage.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (auto& arg : argStorage) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, outputPath_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  int rc = posix_spawn(&pid_, binary_.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool ServiceProcess::start(std::chrono::milliseconds timeout) {
  if (!spawn()) {
    return false;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t scanned = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = output();
    size_t lineStart = scanned;
    size_t lineEnd;
    while ((lineEnd = text.find('\n', lineStart)) != std::string::npos) {
      auto line = nlohmann::json::parse(text.substr(lineStart, lineEnd - lineStart), nullptr, false);
      if (!line.is_discarded() && line.is_object() && line.value("event", "") == "started") {
        port_ = line.value("port", 0);
        return port_ != 0;
      }
      lineStart = lineEnd + 1;
    }
    scanned = lineStart;
    if (!running()) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int ServiceProcess::runToExit(std::chrono::milliseconds timeout) {
  if (!spawn()) {
    return -1;
  }
  return reap(timeout);
}

bool ServiceProcess::running() {
  if (pid_ <= 0) {
    return false;
  }
  int status = 0;
  pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    return false;
  }
  return true;
}

int ServiceProcess::reap(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill();
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exitCode_;
}

int ServiceProcess::stop(std::chrono::milliseconds timeout) {
  if (!running()) {
    return exitCode_;
  }
  ::kill(pid_, SIGTERM);
  return reap(timeout);
}

void ServiceProcess::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exitCode_ = -1;
  }
}

std::string ServiceProcess::output() const {
  std::ifstream file(outputPath_);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

bool ServiceProcess::waitForOutput(const std::string& text, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (output().find(text) != std::string::npos) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace mp::test
