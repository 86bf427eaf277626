#include "http/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace mp {
namespace {

TEST(WorkerPool, RunsEveryTask) {
  WorkerPool pool(3, 1000);
  std::atomic<int> done{0};
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(pool.submit([&] { ++done; }));
  }
  ASSERT_TRUE(pool.waitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(done, 500);
}

TEST(WorkerPool, RefuseQueuedHandsBackWhatNoThreadStartedAndLetsTheRunningTaskFinish) {
  WorkerPool pool(1, 100);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<bool> started{false};
  std::atomic<int> ran{0};
  std::atomic<int> refused{0};
  ASSERT_TRUE(pool.submit([&, gate] {
    started = true;
    gate.wait();
    ++ran;
  }));
  while (!started) {
    std::this_thread::yield();
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(pool.submit([&] { ++ran; }, [&] { ++refused; }));
  }
  EXPECT_EQ(pool.refuseQueued(), 5u);
  EXPECT_EQ(refused, 5);
  EXPECT_FALSE(pool.submit([&] { ++ran; })) << "a pool that refused its queue takes no new task";
  release.set_value();
  pool.stop();
  EXPECT_EQ(ran, 1);
}

TEST(WorkerPool, RefusesWhenTheQueueIsFull) {
  WorkerPool pool(1, 2);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<bool> started{false};
  ASSERT_TRUE(pool.submit([&, gate] {
    started = true;
    gate.wait();
  }));
  while (!started) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(pool.submit([] {}));
  EXPECT_TRUE(pool.submit([] {}));
  EXPECT_FALSE(pool.submit([] {}));  // queue holds 2
  release.set_value();
  EXPECT_TRUE(pool.waitIdle(std::chrono::seconds(5)));
}

TEST(WorkerPool, StopRunsWhatIsQueuedAndRefusesMore) {
  std::atomic<int> done{0};
  WorkerPool pool(2, 100);
  for (int i = 0; i < 50; ++i) {
    pool.submit([&] { ++done; });
  }
  pool.stop();
  EXPECT_EQ(done, 50);
  EXPECT_FALSE(pool.submit([] {}));
}

}  // namespace
}  // namespace mp
