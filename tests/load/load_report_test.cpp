#include "load/load_report.h"

#include <gtest/gtest.h>

#include <sstream>

namespace mp::load {
namespace {

Attempt read(int status, int64_t startMs, int64_t latencyMs, NoAnswer noAnswer = NoAnswer::kNone) {
  Attempt attempt;
  attempt.status = status;
  attempt.noAnswer = noAnswer;
  attempt.startMs = startMs;
  attempt.latencyMs = latencyMs;
  return attempt;
}

Attempt order(const std::string& key, int number, int status, NoAnswer noAnswer = NoAnswer::kNone) {
  Attempt attempt = read(status, number * 100, 10, noAnswer);
  attempt.kind = Kind::kOrder;
  attempt.key = key;
  attempt.number = number;
  return attempt;
}

std::string field(const Summary& summary, const std::string& key) {
  for (const auto& [name, value] : summary.fields) {
    if (name == key) {
      return value;
    }
  }
  return "(absent)";
}

TEST(LoadReport, OrdersAreRetriedWhenTheAnswerWasLostOrNotNowAndOnlyThen) {
  struct Case {
    int status;
    NoAnswer noAnswer;
    bool retried;
  } cases[] = {
      {0, NoAnswer::kRefused, true}, {0, NoAnswer::kTimeout, true}, {0, NoAnswer::kReset, true},
      {0, NoAnswer::kError, true},   {503, NoAnswer::kNone, true},  {502, NoAnswer::kNone, true},
      {504, NoAnswer::kNone, true},  {429, NoAnswer::kNone, true},  {200, NoAnswer::kNone, false},
      {400, NoAnswer::kNone, false}, {401, NoAnswer::kNone, false}, {500, NoAnswer::kNone, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(shouldRetryOrder(order("k", 1, c.status, c.noAnswer)), c.retried) << c.status;
  }
}

TEST(LoadReport, TheLongestFailureRunCountsConsecutiveFailuresInTheOrderTheyEnded) {
  // Ends at 10, 20 (fail), 30 (fail), 45 (fail, started at 5), 50 (ok), 60 (fail).
  std::vector<Attempt> attempts = {read(200, 0, 10),  read(0, 15, 5, NoAnswer::kRefused),
                                   read(503, 20, 10), read(0, 5, 40, NoAnswer::kTimeout),
                                   read(200, 40, 10), read(502, 55, 5)};
  FailureRun run = longestFailureRun(attempts);
  EXPECT_EQ(run.count, 3);
  EXPECT_DOUBLE_EQ(run.seconds, 0.040);  // from the start at 5 ms to the end at 45 ms
  EXPECT_EQ(longestFailureRun({read(200, 0, 1)}).count, 0);
}

TEST(LoadReport, AConfirmedOrderWithoutARowIsLostAndAKeyWithTwoRowsIsDuplicated) {
  Record record;
  record.runId = "r1";
  record.durationMs = 1000;
  record.attempts = {
      order("r1-1", 1, 200), order("r1-2", 1, 0, NoAnswer::kReset),
      order("r1-2", 2, 503), order("r1-2", 3, 200),
      order("r1-3", 1, 200), order("r1-4", 1, 0, NoAnswer::kTimeout),  // given up, but the broker had it
      read(200, 0, 5)};
  std::map<std::string, StoredRows> stored = {
      {"r1-1", {1, 1}}, {"r1-2", {1, 1}}, {"r1-3", {1, 1}}, {"r1-4", {1, 1}}};
  Summary clean = summarize(record, stored);
  EXPECT_FALSE(clean.lostOrDuplicated);
  EXPECT_EQ(field(clean, "confirmed"), "3");
  EXPECT_EQ(field(clean, "stored"), "4");
  EXPECT_EQ(field(clean, "stored_unconfirmed"), "1");
  EXPECT_EQ(field(clean, "retried"), "1");
  EXPECT_EQ(field(clean, "retried_confirmed"), "1");
  EXPECT_EQ(field(clean, "failed"), "3");
  EXPECT_EQ(field(clean, "reset"), "1");
  EXPECT_EQ(field(clean, "timeout"), "1");
  EXPECT_EQ(field(clean, "http_503"), "1");
  EXPECT_EQ(field(clean, "verdict"), "ok");

  stored.erase("r1-3");
  Summary lost = summarize(record, stored);
  EXPECT_TRUE(lost.lostOrDuplicated);
  EXPECT_EQ(field(lost, "lost"), "1");
  EXPECT_EQ(field(lost, "verdict"), "LOST");

  stored["r1-3"] = {1, 1};
  stored["r1-1"] = {2, 1};  // a second row, whose message_id lost the key
  Summary duplicated = summarize(record, stored);
  EXPECT_TRUE(duplicated.lostOrDuplicated);
  EXPECT_EQ(field(duplicated, "duplicated"), "1");
  EXPECT_EQ(field(duplicated, "keyless"), "1");
  EXPECT_EQ(field(duplicated, "verdict"), "DUPLICATED");
}

TEST(LoadReport, TheRecordReadsBackAsWritten) {
  Record record;
  record.runId = "r7";
  record.startedWallMs = 1700000000000;
  record.durationMs = 20000;
  record.attempts = {order("r7-1", 2, 0, NoAnswer::kRefused), read(200, 3, 4)};
  std::stringstream file;
  writeRecordHeader(file, record);
  for (const Attempt& attempt : record.attempts) {
    writeAttempt(file, attempt);
  }
  std::string error;
  std::optional<Record> back = readRecord(file, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->runId, "r7");
  EXPECT_EQ(back->startedWallMs, 1700000000000);
  ASSERT_EQ(back->attempts.size(), 2u);
  EXPECT_EQ(back->attempts[0].key, "r7-1");
  EXPECT_EQ(back->attempts[0].number, 2);
  EXPECT_EQ(back->attempts[0].noAnswer, NoAnswer::kRefused);
  EXPECT_EQ(back->attempts[1].kind, Kind::kGet);
  EXPECT_EQ(back->attempts[1].status, 200);

  std::stringstream bad("# run=r7 started_ms=1 duration_ms=2\norder\tr7-1\t1\tteapot\t0\t1\n");
  EXPECT_FALSE(readRecord(bad, &error));
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
}

}  // namespace
}  // namespace mp::load
