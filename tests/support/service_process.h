#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mp::test {

using EnvironmentOverrides = std::vector<std::pair<std::string, std::string>>;

// One real service binary run as a child process for a test, with its output in a temp file. The
// service reports its bound port in its "started" log line, so tests use port 0. Killed on destruction.
class ServiceProcess {
 public:
  ServiceProcess(std::string binary, EnvironmentOverrides environment, std::vector<std::string> args = {});
  ~ServiceProcess();
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  // Spawns the process and waits for its "started" line. False on timeout or early exit.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Spawns and waits for exit; returns the exit code (-1 on timeout or signal).
  int runToExit(std::chrono::milliseconds timeout = std::chrono::seconds(15));

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running();

  // SIGTERM, then waits; returns the exit code, or -1 when it did not exit in time (it is then killed).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  void kill();

  std::string output() const;
  // Waits until the output contains text.
  bool waitForOutput(const std::string& text, std::chrono::milliseconds timeout);

  // Where a test finds the binary: the environment variable (set by CMake) or the test fails.
  static std::string binaryFromEnvironment(const std::string& variable);

 private:
  bool spawn();
  int reap(std::chrono::milliseconds timeout);

  std::string binary_;
  EnvironmentOverrides environment_;
  std::vector<std::string> args_;
  std::string outputPath_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int exitCode_ = -1;
};

}  // namespace mp::test
