#include "support/service_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

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
  return testBinary(variable);
}

bool ServiceProcess::spawn() {
  std::vector<std::string> argv = {binary_};
  argv.insert(argv.end(), args_.begin(), args_.end());
  child_ = std::make_unique<ChildProcess>(argv, outputPath_, environment_);
  return child_->pid() > 0;
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

pid_t ServiceProcess::pid() const {
  return child_ ? child_->pid() : -1;
}

bool ServiceProcess::running() {
  if (!child_ || !child_->running()) {
    return false;
  }
  return true;
}

int ServiceProcess::exitCode() const {
  if (!child_ || child_->pid() > 0) {
    return -1;
  }
  const int status = child_->waitStatus();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
  return exitCode();
}

int ServiceProcess::stop(std::chrono::milliseconds timeout) {
  if (!child_) {
    return -1;
  }
  return child_->stop(SIGTERM, timeout) == -1 ? -1 : exitCode();
}

void ServiceProcess::kill() {
  if (child_ && child_->running()) {
    child_->stop(SIGKILL, std::chrono::seconds(10));
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
