#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace mp::test {

using EnvironmentOverrides = std::vector<std::pair<std::string, std::string>>;

// The one way tests start a program: argv[0] is its path (testBinary() for ours), the environment is
// the test's own with `environment` set over it, stdin is /dev/null and stdout and stderr are appended
// to `logFile`. The child runs in its own process group with the default signal mask. Stopped (SIGTERM,
// then SIGKILL after a grace period) when the object goes away, so a failing test leaves nothing running.
// Thread-safety: use from one thread.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& logFile,
               const EnvironmentOverrides& environment = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // -1 when it could not be started.
  pid_t pid() const { return pid_; }
  bool running();
  // Sends `signal` (0: none, just wait) and waits up to `grace` for the exit; returns the exit status as
  // waitpid gives it, or -1 if it had to be killed (SIGKILL).
  int stop(int signal, std::chrono::milliseconds grace = std::chrono::seconds(10));
  // The status waitpid gave once it has exited (running() or stop() saw it).
  int waitStatus() const { return status_; }
  const std::string& logFile() const { return logFile_; }
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  std::string logFile_;
};

// The path of one of our programs: CMake sets `variable` (e.g. MP_INVENTORY_APP) on the ctest test;
// throws when it is not set (the test was not run through ctest).
std::string testBinary(const std::string& variable);

}  // namespace mp::test
