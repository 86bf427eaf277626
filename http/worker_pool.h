#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mp {

// A fixed set of threads running queued tasks, with a bounded queue so that overload is refused
// (the caller answers 503) instead of growing without limit. Thread-safe.
class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t queueLimit);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when the queue is full or the pool is stopping; the task is then not run. `refuse` (optional)
  // is what refuseQueued() calls instead of `task` if the task is still queued then.
  bool submit(std::function<void()> task, std::function<void()> refuse = nullptr);

  // Waits until the queue is empty and no task runs, or the timeout passes; true when idle.
  bool waitIdle(std::chrono::milliseconds timeout);

  // Stops taking tasks and takes out every task no thread has started, calling its `refuse` on the
  // caller's thread; running tasks go on. Returns how many were refused.
  size_t refuseQueued();

  // Runs what is still queued, then joins the threads (waiting for running tasks). Idempotent.
  void stop();

  size_t threadCount() const { return threads_.size(); }

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  struct Task {
    std::function<void()> run;
    std::function<void()> refuse;
  };
  std::deque<Task> queue_;  // guarded by mutex_
  std::vector<std::thread> threads_;
  size_t queueLimit_;
  size_t running_ = 0;     // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
};

}  // namespace mp
