// Order ids (docs/contract.md, api-gateway): a fresh id per order without an Idempotency-Key. billing-app keeps one
// row per message_id, so two orders that drew the same id would be one row: every id must carry 122
// random bits taken from the operating system at the draw, never a generator state that another thread,
// replica or forked process can share.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bitset>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway/message_id.h"

namespace mp::gateway {
namespace {

// The 128 bits of a textual UUID, or false when `id` is not 8-4-4-4-12 lowercase hex digits.
bool uuidBits(const std::string& id, std::bitset<128>* bits) {
  if (id.size() != 36) {
    return false;
  }
  std::string hex;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (id[i] == '-')) {
      return false;
    }
    if (!dash) {
      if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) {
        return false;
      }
      hex += id[i];
    }
  }
  bits->reset();
  for (char c : hex) {
    *bits <<= 4;
    *bits |= std::bitset<128>(static_cast<unsigned long long>(std::stoi(std::string(1, c), nullptr, 16)));
  }
  return true;
}

TEST(NewMessageId, IsAVersion4UuidWhoseOtherBitsAllVary) {
  std::bitset<128> seenOne;
  std::bitset<128> seenZero;
  for (int i = 0; i < 2000; ++i) {
    std::bitset<128> bits;
    const std::string id = newMessageId();
    ASSERT_TRUE(uuidBits(id, &bits)) << id;
    EXPECT_EQ(id[14], '4') << id << ": version 4";
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b')
        << id << ": RFC 4122 variant";
    seenOne |= bits;
    seenZero |= ~bits;
  }
  // Bits 76-79 hold the version and 62-63 the variant (counted from the least significant); the other
  // 122 must each have been seen as 0 and as 1 in 2,000 draws.
  int varying = 0;
  for (int bit = 0; bit < 128; ++bit) {
    varying += seenOne[bit] && seenZero[bit];
  }
  EXPECT_EQ(varying, 122);
}

// A process that forks after drawing ids (a pre-forking server, or a container runtime's checkpoint and
// restore) holds a copy of any generator state; ids drawn from the OS are still the child's own.
TEST(NewMessageId, AForkedChildDrawsOtherIdsThanItsParent) {
  for (int round = 0; round < 3; ++round) {
    const std::string before = newMessageId();
    int pipeFds[2];
    ASSERT_EQ(pipe(pipeFds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      const std::string id = newMessageId();
      const ssize_t written = write(pipeFds[1], id.data(), id.size());
      _exit(written == static_cast<ssize_t>(id.size()) ? 0 : 1);
    }
    close(pipeFds[1]);
    const std::string parentId = newMessageId();
    char buffer[64] = {};
    const ssize_t got = read(pipeFds[0], buffer, sizeof(buffer) - 1);
    close(pipeFds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(got, 36);
    EXPECT_NE(std::string(buffer, 36), parentId) << "after drawing " << before;
  }
}

TEST(NewMessageId, ThreadsDrawDistinctIds) {
  constexpr int kThreads = 32;
  constexpr int kEach = 2000;
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kEach; ++i) {
        drawn[t].push_back(newMessageId());
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  std::set<std::string> ids;
  for (const auto& list : drawn) {
    ids.insert(list.begin(), list.end());
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace mp::gateway
