#include "controller/work_queue.h"

namespace mp::op {

void WorkQueue::add(const std::string& key, std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto due = Clock::now() + delay;
  auto found = due_.find(key);
  if (found == due_.end() || due < found->second) {
    due_[key] = due;
  }
  changed_.notify_all();
}

std::optional<std::string> WorkQueue::next(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!shutDown_) {
    auto now = Clock::now();
    auto earliest = due_.end();
    for (auto it = due_.begin(); it != due_.end(); ++it) {
      if (earliest == due_.end() || it->second < earliest->second) {
        earliest = it;
      }
    }
    if (earliest != due_.end() && earliest->second <= now) {
      std::string key = earliest->first;
      due_.erase(earliest);
      return key;
    }
    if (now >= deadline) {
      return std::nullopt;
    }
    auto wake = earliest == due_.end() ? deadline : std::min(deadline, earliest->second);
    changed_.wait_until(lock, wake);
  }
  return std::nullopt;
}

void WorkQueue::shutDown() {
  std::lock_guard<std::mutex> lock(mutex_);
  shutDown_ = true;
  changed_.notify_all();
}

void WorkQueue::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  shutDown_ = false;
  due_.clear();
}

}  // namespace mp::op
