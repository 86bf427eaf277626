#include "http/worker_pool.h"

namespace mp {

WorkerPool::WorkerPool(size_t threads, size_t queueLimit) : queueLimit_(queueLimit) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { run(); });
  }
}

WorkerPool::~WorkerPool() {
  stop();
}

bool WorkerPool::submit(std::function<void()> task, std::function<void()> refuse) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= queueLimit_) {
      return false;
    }
    queue_.push_back({std::move(task), std::move(refuse)});
  }
  wake_.notify_one();
  return true;
}

bool WorkerPool::waitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && running_ == 0; });
}

size_t WorkerPool::refuseQueued() {
  std::deque<Task> queued;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queued.swap(queue_);
    if (running_ == 0) {
      idle_.notify_all();
    }
  }
  for (Task& task : queued) {
    if (task.refuse) {
      task.refuse();
    }
  }
  return queued.size();
}

void WorkerPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && threads_.empty()) {
      return;
    }
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) {
      thread.join();
    }
  }
  threads_.clear();
}

void WorkerPool::run() {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        return;  // stopping and nothing left to run
      }
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    task.run();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --running_;
      if (queue_.empty() && running_ == 0) {
        idle_.notify_all();
      }
    }
  }
}

}  // namespace mp
