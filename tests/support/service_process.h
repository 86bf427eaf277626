#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <memory>
#include <vector>

#include "support/child_process.h"

namespace mp::test {

// One real service binary run as a child process for a test, with its output in a temp file. The
// service reports its bound port in its "started" log line, so tests use port 0. Killed on destruction.
// Started as a ChildProcess (child_process.h), the one way tests start programs.
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
  pid_t pid() const;  // -1 once it has exited
  bool running();

  // SIGTERM, then waits; returns the exit code, or -1 when it did not exit in time (it is then killed).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  void kill();

  std::string output() const;
  // Waits until the output contains text.
  bool waitForOutput(const std::string& text, std::chrono::milliseconds timeout);

  // testBinary(variable) (child_process.h).
  static std::string binaryFromEnvironment(const std::string& variable);

 private:
  bool spawn();
  int reap(std::chrono::milliseconds timeout);
  // The exit code once it has exited by itself; -1 while running, after a signal, or when never started.
  int exitCode() const;

  std::string binary_;
  EnvironmentOverrides environment_;
  std::vector<std::string> args_;
  std::string outputPath_;
  std::unique_ptr<ChildProcess> child_;
  uint16_t port_ = 0;
};

}  // namespace mp::test
