// The gateway's access rules as plain logic: the token bucket per client (with a hand-driven clock) and
// the constant-time bearer token check.
#include <gtest/gtest.h>

#include "gateway/bearer_token.h"
#include "gateway/rate_limiter.h"

namespace mp::gateway {
namespace {

using Clock = ClientRateLimiter::Clock;
using std::chrono::milliseconds;

TEST(ClientRateLimiter, AllowsTheBurstThenRefusesWithRetryAfter) {
  ClientRateLimiter limiter(2.0, 5.0);
  Clock::time_point t0{};
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(limiter.admit("10.0.0.1", t0).allowed) << i;
  }
  auto refused = limiter.admit("10.0.0.1", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retryAfterSeconds, 1) << "half a second to the next token, rounded up to whole seconds";
}

TEST(ClientRateLimiter, RefillsAtTheRate) {
  ClientRateLimiter limiter(2.0, 2.0);
  Clock::time_point t0{};
  EXPECT_TRUE(limiter.admit("a", t0).allowed);
  EXPECT_TRUE(limiter.admit("a", t0).allowed);
  EXPECT_FALSE(limiter.admit("a", t0 + milliseconds(100)).allowed);
  EXPECT_TRUE(limiter.admit("a", t0 + milliseconds(500)).allowed) << "one token after 0.5 s at 2/s";
  EXPECT_FALSE(limiter.admit("a", t0 + milliseconds(600)).allowed);
  // A long pause refills up to the burst, not beyond.
  auto later = t0 + std::chrono::seconds(60);
  EXPECT_TRUE(limiter.admit("a", later).allowed);
  EXPECT_TRUE(limiter.admit("a", later).allowed);
  EXPECT_FALSE(limiter.admit("a", later).allowed);
}

TEST(ClientRateLimiter, RetryAfterIsWholeSecondsAtLeastOne) {
  ClientRateLimiter slow(0.1, 1.0);  // one request per 10 s
  Clock::time_point t0{};
  EXPECT_TRUE(slow.admit("a", t0).allowed);
  EXPECT_EQ(slow.admit("a", t0).retryAfterSeconds, 10);
  EXPECT_EQ(slow.admit("a", t0 + milliseconds(9'500)).retryAfterSeconds, 1);
  ClientRateLimiter fast(1000.0, 1.0);
  EXPECT_TRUE(fast.admit("a", t0).allowed);
  EXPECT_EQ(fast.admit("a", t0).retryAfterSeconds, 1);
}

TEST(ClientRateLimiter, ClientsHaveTheirOwnBuckets) {
  ClientRateLimiter limiter(1.0, 1.0);
  Clock::time_point t0{};
  EXPECT_TRUE(limiter.admit("10.0.0.1", t0).allowed);
  EXPECT_FALSE(limiter.admit("10.0.0.1", t0).allowed);
  EXPECT_TRUE(limiter.admit("10.0.0.2", t0).allowed);
  EXPECT_TRUE(limiter.admit("::1", t0).allowed);
}

TEST(ClientRateLimiter, IdleClientsAreForgotten) {
  ClientRateLimiter limiter(10.0, 10.0);  // full again 1 s after the last request
  Clock::time_point t0{};
  for (int i = 0; i < 1000; ++i) {
    limiter.admit("client-" + std::to_string(i), t0);
  }
  EXPECT_EQ(limiter.trackedClients(), 1000u);
  limiter.admit("late", t0 + milliseconds(500));
  EXPECT_EQ(limiter.trackedClients(), 1001u) << "not yet full again: still remembered";
  limiter.admit("later", t0 + milliseconds(1'200));
  EXPECT_EQ(limiter.trackedClients(), 2u) << "the thousand idle ones are full again, so forgotten";
}

TEST(ClientRateLimiter, MemoryIsBoundedEvenWhenNoClientIsIdle) {
  ClientRateLimiter limiter(1.0, 1.0, /*maxClients=*/100);
  Clock::time_point t0{};
  for (int i = 0; i < 10'000; ++i) {
    limiter.admit("client-" + std::to_string(i), t0);
  }
  EXPECT_EQ(limiter.trackedClients(), 100u);
  // The most recent clients are the ones remembered: client-9999 has no token left.
  EXPECT_FALSE(limiter.admit("client-9999", t0).allowed);
  EXPECT_TRUE(limiter.admit("client-0", t0).allowed) << "the oldest was forgotten (a fresh bucket)";
}

TEST(ClientRateLimiter, ARecentlySeenClientIsNotEvictedFirst) {
  ClientRateLimiter limiter(1.0, 1.0, /*maxClients=*/3);
  Clock::time_point t0{};
  limiter.admit("a", t0);
  limiter.admit("b", t0);
  limiter.admit("c", t0);
  limiter.admit("a", t0);  // "a" is now the most recent; "b" the least
  limiter.admit("d", t0);  // evicts "b"
  EXPECT_FALSE(limiter.admit("a", t0).allowed);
  EXPECT_TRUE(limiter.admit("b", t0).allowed);
}

TEST(BearerToken, ConstantTimeEquals) {
  EXPECT_TRUE(constantTimeEquals("s3cret", "s3cret"));
  EXPECT_FALSE(constantTimeEquals("s3cret", "s3cre"));
  EXPECT_FALSE(constantTimeEquals("s3cret", "s3cret!"));
  EXPECT_FALSE(constantTimeEquals("s3cret", "S3cret"));
  EXPECT_FALSE(constantTimeEquals("s3cret", ""));
  EXPECT_FALSE(constantTimeEquals("ab", "abab")) << "a repeated secret is not the secret";
  EXPECT_TRUE(constantTimeEquals("", ""));
}

TEST(BearerToken, MatchesOnlyABearerHeaderWithTheToken) {
  const std::string token = std::string("tok-") + "123";
  EXPECT_TRUE(bearerTokenMatches("Bearer tok-123", token));
  EXPECT_TRUE(bearerTokenMatches("bearer tok-123", token)) << "the scheme is case-insensitive";
  EXPECT_TRUE(bearerTokenMatches("Bearer  tok-123 ", token));
  EXPECT_FALSE(bearerTokenMatches(std::nullopt, token));
  EXPECT_FALSE(bearerTokenMatches("", token));
  EXPECT_FALSE(bearerTokenMatches("tok-123", token));
  EXPECT_FALSE(bearerTokenMatches("Basic tok-123", token));
  EXPECT_FALSE(bearerTokenMatches("Bearer", token));
  EXPECT_FALSE(bearerTokenMatches("Bearer tok-12", token));
  EXPECT_FALSE(bearerTokenMatches("Bearer tok-1234", token));
  EXPECT_FALSE(bearerTokenMatches("Bearer TOK-123", token)) << "the token itself is case-sensitive";
  EXPECT_FALSE(bearerTokenMatches("Bearer ", ""));
}

}  // namespace
}  // namespace mp::gateway
