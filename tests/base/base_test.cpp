// The base library as a specification: the one duration syntax, the one retry loop, Status.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/duration.h"
#include "base/log.h"
#include "base/retry.h"
#include "base/status.h"

namespace mp {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsBothFormerSyntaxes) {
  struct Case {
    const char* text;
    std::optional<int64_t> millis;  // nullopt: refused
  } cases[] = {
      {"1500", 1500},  // a bare number is milliseconds (the services' settings)
      {"250ms", 250},
      {"2s", 2000},
      {"0.5s", 500},
      {"1m", 60000},
      {"5h", 18000000},  // hours (the operator's flags)
      {"1h30m", 5400000},
      {"1m30s", 90000},
      {"0", 0},
      {"", std::nullopt},
      {"-1s", std::nullopt},
      {"s", std::nullopt},
      {"3d", std::nullopt},
      {"1m30", std::nullopt},  // a bare number only on its own
      {"1.2.3s", std::nullopt},
      {"10000000000000", std::nullopt},  // above 10^12 ms
  };
  for (const Case& c : cases) {
    auto parsed = parseDuration(c.text);
    if (c.millis) {
      ASSERT_TRUE(parsed) << c.text;
      EXPECT_EQ(parsed->count(), *c.millis) << c.text;
    } else {
      EXPECT_FALSE(parsed) << c.text;
    }
  }
}

TEST(RetryUntilStopped, RetriesWithTheBackoffUntilAnAttemptSucceeds) {
  std::atomic<bool> stop{false};
  Backoff backoff(milliseconds(1), milliseconds(4));
  std::vector<int64_t> announced;
  const bool succeeded = retryUntilStopped(stop, backoff, [&](milliseconds retryIn) {
    announced.push_back(retryIn.count());
    return announced.size() == 5;
  });
  EXPECT_TRUE(succeeded);
  EXPECT_EQ(announced, (std::vector<int64_t>{1, 2, 4, 4, 4}));
  EXPECT_EQ(backoff.upcomingDelay(), milliseconds(1)) << "reset after the success";
}

TEST(RetryUntilStopped, AStopEndsTheWaitAndNoAttemptFollows) {
  std::atomic<bool> stop{false};
  Backoff backoff(milliseconds(60'000), milliseconds(60'000));
  int attempts = 0;
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(100));
    stop = true;
  });
  const bool succeeded = retryUntilStopped(stop, backoff, [&](milliseconds) {
    ++attempts;
    return false;
  });
  stopper.join();
  EXPECT_FALSE(succeeded) << "it returns, within the minute's wait, once stopped";
  EXPECT_EQ(attempts, 1);
}

TEST(Status, CarriesACanonicalCodeAndGainsContext) {
  EXPECT_TRUE(Status().ok());
  Status lost = Status::unavailable("connection reset");
  EXPECT_EQ(lost.code(), Code::kUnavailable);
  EXPECT_EQ(lost.withContext("declaring billing_queue").message(),
            "declaring billing_queue: connection reset");
  EXPECT_EQ(lost.withContext("x").code(), Code::kUnavailable);
  StatusOr<int> value = 7;
  EXPECT_TRUE(value.ok());
  EXPECT_EQ(*value, 7);
  StatusOr<int> missing = Status::notFound("no such queue");
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

// The operator's Kubernetes and Prometheus answers: the canonical code for branching on the kind of
// failure, the HTTP status and the server's reason kept for the cases one code covers (410 re-list, 429
// eviction refused) and for conditions and Events.
TEST(Status, AnHttpAnswerMapsToACanonicalCodeAndKeepsItsStatusAndReason) {
  struct Case {
    int httpStatus;
    Code code;
  };
  const Case cases[] = {
      {400, Code::kInvalidArgument}, {411, Code::kInvalidArgument}, {413, Code::kInvalidArgument},
      {415, Code::kInvalidArgument}, {422, Code::kInvalidArgument}, {431, Code::kInvalidArgument},
      {404, Code::kNotFound},        {410, Code::kNotFound},        {409, Code::kConflict},
      {429, Code::kUnavailable},     {502, Code::kUnavailable},     {503, Code::kUnavailable},
      {504, Code::kUnavailable},     {401, Code::kInternal},        {403, Code::kInternal},
      {500, Code::kInternal},        {200, Code::kInternal},
  };
  for (const Case& c : cases) {
    Status status = Status::fromHttp(c.httpStatus, "Reason", "PUT /x: refused");
    EXPECT_EQ(status.code(), c.code) << c.httpStatus;
    EXPECT_EQ(status.httpStatus(), c.httpStatus);
    EXPECT_EQ(status.reason(), "Reason");
    EXPECT_EQ(status.message(), "PUT /x: refused");
  }
  Status gone = Status::fromHttp(410, "Expired", "WATCH /pods: too old").withContext("watching pods");
  EXPECT_EQ(gone.httpStatus(), 410) << "context keeps the detail";
  EXPECT_EQ(gone.reason(), "Expired");
  Status own = Status::invalidArgument("--port: not a number").withReason("BadFlag");
  EXPECT_EQ(own.code(), Code::kInvalidArgument);
  EXPECT_EQ(own.reason(), "BadFlag");
  EXPECT_EQ(own.httpStatus(), 0) << "no HTTP answer came back";
  EXPECT_EQ(Status::unavailable("refused").reason(), "");
  EXPECT_EQ(Status::unavailable("refused").retryAfter().count(), 0) << "not said unless given";
  Status limited = Status::fromHttp(429, "rate_limited", "slow down").withRetryAfter(std::chrono::seconds(2));
  EXPECT_EQ(limited.retryAfter().count(), 2);
  EXPECT_EQ(limited.withContext("posting").retryAfter().count(), 2) << "context keeps the delay";
}

TEST(LogLevel, OneTableOfNames) {
  log::Level level = log::Level::kInfo;
  for (const char* name : {"debug", "info", "warn", "error"}) {
    EXPECT_TRUE(log::parseLevel(name, &level)) << name;
    EXPECT_STREQ(log::kLevelNames[static_cast<int>(level)], name);
  }
  EXPECT_FALSE(log::parseLevel("verbose", &level));
}

// What `emit` writes to stdout, captured through a temporary file.
template <typename Emit>
std::string capturedStdout(Emit emit) {
  std::fflush(stdout);
  FILE* file = std::tmpfile();
  int saved = dup(STDOUT_FILENO);
  dup2(fileno(file), STDOUT_FILENO);
  emit();
  dup2(saved, STDOUT_FILENO);
  close(saved);
  std::string text;
  std::rewind(file);
  for (int c = std::fgetc(file); c != EOF; c = std::fgetc(file)) {
    text += static_cast<char>(c);
  }
  std::fclose(file);
  return text;
}

// The access log's own writer gives the line log::info gives for the same fields: the same members in
// the same order, the same escaping of what a client sent (quotes, control bytes, invalid UTF-8).
TEST(AccessLog, TheRequestLineIsTheGeneralLineWrittenFaster) {
  log::setup("test-service", log::Level::kInfo);
  for (const std::string& path : {std::string("/api/movies/7"), std::string("/a\"b\\c\x01\xff\xc3\xa9")}) {
    std::string general = capturedStdout([&] {
      log::info("http_request", {{"method", "GET"},
                                 {"path", path},
                                 {"route", "/api/movies/:id"},
                                 {"status", 200},
                                 {"duration_ms", 1.25},
                                 {"remote", "127.0.0.1"}});
    });
    std::string fast =
        capturedStdout([&] { log::httpRequest("GET", path, "/api/movies/:id", 200, 1.25, "127.0.0.1"); });
    ASSERT_FALSE(fast.empty());
    EXPECT_EQ(fast.back(), '\n');
    // Equal after the timestamp, which differs by the time between the two calls.
    auto afterTs = [](const std::string& line) { return line.substr(line.find("\"level\"")); };
    EXPECT_EQ(afterTs(fast), afterTs(general)) << path;
    EXPECT_EQ(fast.find("{\"ts\":\""), 0u);
    EXPECT_EQ(fast.size(), general.size()) << fast << general;
  }
}

// Under a LineBatch the lines wait for its end (or for 3.5 KiB), then come whole and in order; a line
// longer than the batch goes out at once, after the ones before it.
TEST(LineBatch, LinesWaitForTheBatchsEndAndComeWholeInOrder) {
  log::setup("test-service", log::Level::kInfo);
  off_t whileBatched = -1;
  std::string all = capturedStdout([&] {
    {
      log::LineBatch batch;
      log::info("first", {{"n", 1}});
      log::info("second", {{"n", 2}});
      struct stat written {};
      fstat(STDOUT_FILENO, &written);
      whileBatched = written.st_size;
    }
    log::info("after", {{"n", 3}});
  });
  EXPECT_EQ(whileBatched, 0) << "lines were written before the batch ended";
  std::vector<std::string> lines;
  for (size_t start = 0, end; (end = all.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(all.substr(start, end - start));
  }
  ASSERT_EQ(lines.size(), 3u) << all;
  EXPECT_NE(lines[0].find("\"event\":\"first\""), std::string::npos);
  EXPECT_NE(lines[1].find("\"event\":\"second\""), std::string::npos);
  EXPECT_NE(lines[2].find("\"event\":\"after\""), std::string::npos);

  // Past 3.5 KiB the batch is written early, and a line longer than that at once: the order holds.
  const std::string big(5000, 'x');
  all = capturedStdout([&] {
    log::LineBatch batch;
    log::info("small", {{"n", 1}});
    log::info("big", {{"text", big}});
    log::info("tail", {{"n", 2}});
  });
  const size_t small = all.find("\"event\":\"small\"");
  const size_t large = all.find("\"event\":\"big\"");
  const size_t tail = all.find("\"event\":\"tail\"");
  ASSERT_NE(small, std::string::npos);
  ASSERT_NE(large, std::string::npos);
  ASSERT_NE(tail, std::string::npos);
  EXPECT_LT(small, large);
  EXPECT_LT(large, tail);
  EXPECT_NE(all.find(big), std::string::npos);
}

// A warning or an error is not held back: it goes out at once, after the lines gathered before it.
TEST(LineBatch, AWarningGoesOutAtOnceAfterTheLinesBeforeIt) {
  log::setup("test-service", log::Level::kInfo);
  off_t afterInfo = -1, afterWarning = -1;
  std::string all = capturedStdout([&] {
    log::LineBatch batch;
    struct stat written {};
    log::info("gathered", {{"n", 1}});
    fstat(STDOUT_FILENO, &written);
    afterInfo = written.st_size;
    log::warn("urgent", {{"n", 2}});
    fstat(STDOUT_FILENO, &written);
    afterWarning = written.st_size;
  });
  EXPECT_EQ(afterInfo, 0);
  EXPECT_EQ(afterWarning, static_cast<off_t>(all.size()));
  EXPECT_LT(all.find("\"event\":\"gathered\""), all.find("\"event\":\"urgent\""));
}

}  // namespace
}  // namespace mp
