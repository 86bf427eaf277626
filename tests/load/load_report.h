#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

// The pure half of the load harness (tests/load/load_harness.cpp does the I/O): what one request's outcome
// was, the record file that keeps every one, and the one-line report reconciled against the stored orders.
// Plain values and functions, no state shared between threads.
namespace mp::load {

enum class Kind { kGet, kList, kOrder };

// How a request ended: an HTTP status, or no answer of one of these kinds.
enum class NoAnswer { kNone, kRefused, kTimeout, kReset, kError };

struct Attempt {
  Kind kind = Kind::kGet;
  std::string key;  // an order's Idempotency-Key (also its user_id); empty for reads
  int number = 1;   // 1 for the first attempt of an order, 2 for its first retry...
  int status = 0;   // the HTTP status, 0 when there was no answer
  NoAnswer noAnswer = NoAnswer::kNone;
  int64_t startMs = 0;  // since the run's start
  int64_t latencyMs = 0;

  bool succeeded() const { return status >= 200 && status < 300; }
  int64_t endMs() const { return startMs + latencyMs; }
};

// Whether a careful client sends an order again, with the same key: its answer was lost (refused, timed
// out, connection reset) or said "not now" (429, 502, 503, 504). Anything else is an answer to keep.
bool shouldRetryOrder(const Attempt& attempt);

// Rows stored for one key: all of them, and those whose message_id is "key:<key>" (the gateway carried
// the Idempotency-Key through to billing-app).
struct StoredRows {
  int64_t rows = 0;
  int64_t rowsWithKey = 0;
};

// The record file: a header line "# run=ID started_ms=WALL duration_ms=N", then one tab-separated line per
// attempt: kind, key (or "-"), attempt number, status or no-answer kind, start ms, latency ms.
struct Record {
  std::string runId;
  int64_t startedWallMs = 0;
  int64_t durationMs = 0;
  std::vector<Attempt> attempts;
};
void writeRecordHeader(std::ostream& out, const Record& record);
void writeAttempt(std::ostream& out, const Attempt& attempt);
// Nullopt, with the reason in *error, when a line is malformed.
std::optional<Record> readRecord(std::istream& in, std::string* error);

// The longest run of consecutive failed requests, in the order they ended: how many, and the seconds from
// the start of its first to the end of its last.
struct FailureRun {
  int64_t count = 0;
  double seconds = 0;
};
FailureRun longestFailureRun(std::vector<Attempt> attempts);

// Everything the report line says, as key=value pairs in the order printed: counts, failures by kind
// (refused, timeout, reset, error, http_NNN), the longest failure run, latencies, and the verdict.
struct Summary {
  std::vector<std::pair<std::string, std::string>> fields;
  bool lostOrDuplicated = false;  // a confirmed order not stored, or any key stored more than once
};

// Reconciles the record with the rows stored per key (keys absent from `stored` have none).
Summary summarize(const Record& record, const std::map<std::string, StoredRows>& stored);

// "load key=value ...": the summary on one line.
std::string reportLine(const Summary& summary);

// The keys an order was confirmed (answered 2xx) for.
std::vector<std::string> confirmedKeys(const Record& record);

}  // namespace mp::load
