#include "http/event_loop.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <functional>
#include <future>
#include <thread>
#include <utility>
#include <vector>

namespace mp {
namespace {

using namespace std::chrono_literals;

// A loop whose work is the jobs handed to it; it records what it is told.
class RecordingLoop : public EventLoop {
 public:
  using Job = std::function<void(RecordingLoop&)>;
  using EventLoop::rewatch;
  using EventLoop::unwatch;
  using EventLoop::watch;

  Inbox<Job> inbox{*this};
  std::vector<std::pair<Tag, uint32_t>> ready;  // loop thread only
  std::atomic<int> turns{0};
  Wait next = Wait::forever();  // loop thread only
  std::promise<std::thread::id> shutDownOn;

 protected:
  void onReady(Tag tag, uint32_t events) override { ready.emplace_back(tag, events); }
  Wait onTurn() override {
    for (auto& job : inbox.take()) {
      job(*this);
    }
    ++turns;
    return next;
  }
  void onShutdown() override { shutDownOn.set_value(std::this_thread::get_id()); }
};

// Both ends of a pipe, closed at the end of the test.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    read = UniqueFd(fds[0]);
    write = UniqueFd(fds[1]);
  }
};

bool readable(int fd, std::chrono::milliseconds within) {
  pollfd wanted{fd, POLLIN, 0};
  return ::poll(&wanted, 1, static_cast<int>(within.count())) == 1;
}

TEST(EventLoopWait, EveryWaitHasOneMeaning) {
  EXPECT_FALSE(Wait::noLook().looks());
  EXPECT_TRUE(Wait::now().looks());
  EXPECT_EQ(Wait::now().epollTimeout(), 0);
  EXPECT_TRUE(Wait::forever().looks());
  EXPECT_EQ(Wait::forever().epollTimeout(), -1);
  EXPECT_EQ(Wait::atMost(250ms).epollTimeout(), 250);
  // A deadline already past is a look without waiting, never "for ever".
  EXPECT_EQ(Wait::atMost(-5ms), Wait::now());
  EXPECT_EQ(Wait::atMost(std::chrono::milliseconds(INT64_MAX)).epollTimeout(), INT_MAX);
  EXPECT_FALSE(Wait::noLook() == Wait::forever());
}

TEST(EventLoop, AFailedRegistrationIsAStatusAndAReadyDescriptorIsReportedByItsTag) {
  RecordingLoop loop;
  Pipe open;
  Pipe closed;
  const int closedFd = closed.read.get();
  closed.read = UniqueFd();
  Status added;
  Status addedClosed;
  Status removedClosed;
  loop.inbox.put([&](RecordingLoop& self) {
    added = self.watch(open.read.get(), EPOLLIN, 7);
    addedClosed = self.watch(closedFd, EPOLLIN, 8);
    removedClosed = self.unwatch(closedFd);
  });
  loop.turn(true);
  EXPECT_TRUE(added.ok()) << added.message();
  ASSERT_FALSE(addedClosed.ok());
  EXPECT_NE(addedClosed.message().find("epoll_ctl add of descriptor"), std::string::npos)
      << addedClosed.message();
  EXPECT_NE(addedClosed.message().find("Bad file descriptor"), std::string::npos) << addedClosed.message();
  // Closing a descriptor takes it out of the set: forgetting it afterwards is no failure.
  EXPECT_TRUE(removedClosed.ok()) << removedClosed.message();

  ASSERT_EQ(write(open.write.get(), "x", 1), 1);
  ASSERT_TRUE(readable(loop.pollFd(), 1s));
  loop.turn(true);
  ASSERT_EQ(loop.ready.size(), 1u);
  EXPECT_EQ(loop.ready[0].first, 7u);
  EXPECT_EQ(loop.ready[0].second & EPOLLIN, EPOLLIN);
}

TEST(EventLoop, RewatchRegistersADescriptorTheSetNoLongerHas) {
  RecordingLoop loop;
  Pipe pipe;
  Status changed;
  loop.inbox.put([&](RecordingLoop& self) { changed = self.rewatch(pipe.read.get(), EPOLLIN, 3); });
  loop.turn(true);
  EXPECT_TRUE(changed.ok()) << changed.message();
  ASSERT_EQ(write(pipe.write.get(), "x", 1), 1);
  loop.turn(true);
  ASSERT_EQ(loop.ready.size(), 1u);
  EXPECT_EQ(loop.ready[0].first, 3u);
}

TEST(EventLoop, ATurnWithoutALookLeavesReadyDescriptorsForTheNext) {
  RecordingLoop loop;
  Pipe pipe;
  loop.inbox.put([&](RecordingLoop& self) { EXPECT_TRUE(self.watch(pipe.read.get(), EPOLLIN, 1).ok()); });
  loop.turn(true);
  ASSERT_EQ(write(pipe.write.get(), "x", 1), 1);
  loop.turn(false);
  EXPECT_TRUE(loop.ready.empty());
  EXPECT_EQ(loop.turns, 2);
  loop.turn(true);
  EXPECT_EQ(loop.ready.size(), 1u);
}

TEST(EventLoop, APutFromAnotherThreadWakesTheLoopOnceAndOneFromItsOwnThreadNeedsNoWakeUp) {
  RecordingLoop loop;
  loop.turn(true);  // the test's thread drives the loop from here on
  std::thread([&] {
    loop.inbox.put([](RecordingLoop&) {});
    loop.inbox.put([](RecordingLoop&) {});
  }).join();
  ASSERT_TRUE(readable(loop.pollFd(), 1s));
  loop.turn(true);
  EXPECT_FALSE(readable(loop.pollFd(), 0ms));  // one wake-up for the batch, read by the turn
  int ran = 0;
  loop.inbox.put([&](RecordingLoop&) { ++ran; });
  EXPECT_FALSE(readable(loop.pollFd(), 0ms));
  loop.turn(false);
  EXPECT_EQ(ran, 1);
}

TEST(EventLoop, ServeWaitsAsLongAsTheTurnSaysAndShutsDownOnItsThreadWhenStopped) {
  RecordingLoop loop;
  std::thread thread([&] { loop.serve(); });
  std::this_thread::sleep_for(300ms);
  // For ever: the first turn (a look) and no other until something happens.
  EXPECT_LE(loop.turns, 2);
  loop.inbox.put([](RecordingLoop& self) { self.next = Wait::atMost(10ms); });
  std::this_thread::sleep_for(300ms);
  const int turned = loop.turns;
  EXPECT_GE(turned, 8);   // about 30, by the 10 ms waits alone
  EXPECT_LE(turned, 60);  // and no spinning
  loop.stop();
  auto on = loop.shutDownOn.get_future();
  ASSERT_EQ(on.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(on.get(), thread.get_id());
  thread.join();
}

TEST(EventLoopDeathTest, ATurnOrAWatchFromAThreadThatDoesNotDriveTheLoopAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        RecordingLoop loop;
        loop.turn(true);
        std::thread([&] { loop.turn(true); }).join();
      },
      "turn on thread .*, but thread .* drives the loop");
  EXPECT_DEATH(
      {
        RecordingLoop loop;
        Pipe pipe;
        loop.turn(true);
        std::thread([&] { (void)loop.watch(pipe.read.get(), EPOLLIN, 1); }).join();
      },
      "watch on thread .*, but thread .* drives the loop");
}

TEST(EventLoop, AHostedLoopIsEndedByTheThreadThatTakesItOver) {
  RecordingLoop loop;
  std::thread([&] { loop.turn(true); }).join();  // its host, now stopped
  loop.end();
  auto on = loop.shutDownOn.get_future();
  ASSERT_EQ(on.wait_for(0ms), std::future_status::ready);
  EXPECT_EQ(on.get(), std::this_thread::get_id());
  EXPECT_TRUE(loop.isThreadSafe());
}

}  // namespace
}  // namespace mp
