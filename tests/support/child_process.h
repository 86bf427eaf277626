#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace mp::test {

// A program under test run as a child process with extra environment variables; killed (SIGKILL) on
// destruction if still running, so a failing test never leaves it behind. Not thread-safe.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts `program` with `args`; stdout and stderr are appended to `logPath`.
  bool start(const std::string& program, const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env, const std::string& logPath);
  bool running();
  void signal(int signo);
  // Waits up to `timeout` for the exit; returns the exit status (waitpid form) or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // SIGKILL and reap.
  void kill();

 private:
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back).
int freeLocalPort();

// Path of a program the build put next to the test programs' bin/ (build/bin/<name>).
std::string programPath(const std::string& name);

}  // namespace mp::test
