#include "load/load_report.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

namespace mp::load {
namespace {

const char* kindName(Kind kind) {
  switch (kind) {
    case Kind::kGet:
      return "get";
    case Kind::kList:
      return "list";
    case Kind::kOrder:
      return "order";
  }
  return "get";
}

std::optional<Kind> kindFrom(const std::string& name) {
  if (name == "get") {
    return Kind::kGet;
  }
  if (name == "list") {
    return Kind::kList;
  }
  if (name == "order") {
    return Kind::kOrder;
  }
  return std::nullopt;
}

const char* noAnswerName(NoAnswer kind) {
  switch (kind) {
    case NoAnswer::kRefused:
      return "refused";
    case NoAnswer::kTimeout:
      return "timeout";
    case NoAnswer::kReset:
      return "reset";
    case NoAnswer::kError:
      return "error";
    case NoAnswer::kNone:
      break;
  }
  return "error";
}

std::optional<NoAnswer> noAnswerFrom(const std::string& name) {
  for (NoAnswer kind : {NoAnswer::kRefused, NoAnswer::kTimeout, NoAnswer::kReset, NoAnswer::kError}) {
    if (name == noAnswerName(kind)) {
      return kind;
    }
  }
  return std::nullopt;
}

// The q-quantile (0..1) of the latencies, nearest rank; 0 when there are none.
int64_t quantile(std::vector<int64_t> values, double q) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  std::size_t rank = static_cast<std::size_t>(q * static_cast<double>(values.size()));
  return values[std::min(rank, values.size() - 1)];
}

std::string fixed(double value, int decimals) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return text;
}

}  // namespace

bool shouldRetryOrder(const Attempt& attempt) {
  if (attempt.status == 0) {
    return true;
  }
  return attempt.status == 429 || attempt.status == 502 || attempt.status == 503 || attempt.status == 504;
}

void writeRecordHeader(std::ostream& out, const Record& record) {
  out << "# run=" << record.runId << " started_ms=" << record.startedWallMs
      << " duration_ms=" << record.durationMs << '\n';
}

void writeAttempt(std::ostream& out, const Attempt& attempt) {
  out << kindName(attempt.kind) << '\t' << (attempt.key.empty() ? "-" : attempt.key) << '\t' << attempt.number
      << '\t';
  if (attempt.status != 0) {
    out << attempt.status;
  } else {
    out << noAnswerName(attempt.noAnswer);
  }
  out << '\t' << attempt.startMs << '\t' << attempt.latencyMs << '\n';
}

std::optional<Record> readRecord(std::istream& in, std::string* error) {
  Record record;
  std::string line;
  if (!std::getline(in, line) || std::sscanf(line.c_str(), "# run=%*s started_ms=%ld duration_ms=%ld",
                                             &record.startedWallMs, &record.durationMs) != 2) {
    *error = "the first line is not '# run=ID started_ms=N duration_ms=N'";
    return std::nullopt;
  }
  std::istringstream header(line.substr(6));
  header >> record.runId;
  int number = 1;
  while (std::getline(in, line)) {
    ++number;
    std::istringstream fields(line);
    std::string kind, key, outcome;
    Attempt attempt;
    if (!(fields >> kind >> key >> attempt.number >> outcome >> attempt.startMs >> attempt.latencyMs) ||
        !kindFrom(kind)) {
      *error = "line " + std::to_string(number) + " is not 'kind key attempt outcome start_ms latency_ms'";
      return std::nullopt;
    }
    attempt.kind = *kindFrom(kind);
    attempt.key = key == "-" ? "" : key;
    if (auto kindOfNoAnswer = noAnswerFrom(outcome)) {
      attempt.noAnswer = *kindOfNoAnswer;
    } else {
      attempt.status = std::atoi(outcome.c_str());
      if (attempt.status < 100 || attempt.status > 599) {
        *error = "line " + std::to_string(number) + ": no status or no-answer kind '" + outcome + "'";
        return std::nullopt;
      }
    }
    record.attempts.push_back(std::move(attempt));
  }
  return record;
}

FailureRun longestFailureRun(std::vector<Attempt> attempts) {
  std::stable_sort(attempts.begin(), attempts.end(),
                   [](const Attempt& a, const Attempt& b) { return a.endMs() < b.endMs(); });
  FailureRun longest;
  int64_t count = 0;
  int64_t firstStart = 0;
  for (const Attempt& attempt : attempts) {
    if (attempt.succeeded()) {
      count = 0;
      continue;
    }
    if (count == 0) {
      firstStart = attempt.startMs;
    }
    firstStart = std::min(firstStart, attempt.startMs);
    ++count;
    if (count > longest.count) {
      longest = {count, static_cast<double>(attempt.endMs() - firstStart) / 1000.0};
    }
  }
  return longest;
}

std::vector<std::string> confirmedKeys(const Record& record) {
  std::set<std::string> keys;
  for (const Attempt& attempt : record.attempts) {
    if (attempt.kind == Kind::kOrder && attempt.succeeded()) {
      keys.insert(attempt.key);
    }
  }
  return {keys.begin(), keys.end()};
}

Summary summarize(const Record& record, const std::map<std::string, StoredRows>& stored) {
  int64_t reads = 0, readsOk = 0, orderAttempts = 0, failed = 0, http4xx = 0, http5xx = 0;
  std::map<NoAnswer, int64_t> noAnswers;
  std::map<int, int64_t> failedByStatus;
  std::map<std::string, int> attemptsOfKey;
  std::set<std::string> confirmed;
  std::vector<int64_t> readLatencies, orderLatencies;
  for (const Attempt& attempt : record.attempts) {
    if (attempt.kind == Kind::kOrder) {
      ++orderAttempts;
      attemptsOfKey[attempt.key] = std::max(attemptsOfKey[attempt.key], attempt.number);
      if (attempt.succeeded()) {
        confirmed.insert(attempt.key);
      }
      orderLatencies.push_back(attempt.latencyMs);
    } else {
      ++reads;
      readsOk += attempt.succeeded() ? 1 : 0;
      readLatencies.push_back(attempt.latencyMs);
    }
    if (attempt.succeeded()) {
      continue;
    }
    ++failed;
    if (attempt.status == 0) {
      ++noAnswers[attempt.noAnswer];
    } else {
      ++failedByStatus[attempt.status];
      http4xx += attempt.status < 500 ? 1 : 0;
      http5xx += attempt.status >= 500 ? 1 : 0;
    }
  }
  int64_t retried = 0, retriedConfirmed = 0, storedKeys = 0, lost = 0, duplicated = 0, storedUnconfirmed = 0,
          keyless = 0;
  for (const auto& [key, attempts] : attemptsOfKey) {
    if (attempts > 1) {
      ++retried;
      retriedConfirmed += confirmed.count(key);
    }
    auto rows = stored.find(key);
    if (confirmed.count(key) && rows == stored.end()) {
      ++lost;
    }
  }
  for (const auto& [key, rows] : stored) {
    if (rows.rows <= 0) {
      continue;
    }
    ++storedKeys;
    duplicated += rows.rows > 1 ? 1 : 0;
    storedUnconfirmed += confirmed.count(key) ? 0 : 1;
    keyless += rows.rows - rows.rowsWithKey;
  }
  const FailureRun run = longestFailureRun(record.attempts);
  const int64_t allLatencyMax = std::max(quantile(readLatencies, 1.0), quantile(orderLatencies, 1.0));

  Summary summary;
  summary.lostOrDuplicated = lost > 0 || duplicated > 0;
  auto add = [&summary](const std::string& key, const std::string& value) {
    summary.fields.emplace_back(key, value);
  };
  auto count = [&add](const std::string& key, int64_t value) { add(key, std::to_string(value)); };
  add("run", record.runId);
  int64_t lastEndMs = record.durationMs;  // the load's time, or longer when the last retries ended later
  for (const Attempt& attempt : record.attempts) {
    lastEndMs = std::max(lastEndMs, attempt.endMs());
  }
  add("duration_s", fixed(static_cast<double>(lastEndMs) / 1000.0, 1));
  count("requests", static_cast<int64_t>(record.attempts.size()));
  count("reads", reads);
  count("reads_ok", readsOk);
  count("order_attempts", orderAttempts);
  count("orders", static_cast<int64_t>(attemptsOfKey.size()));
  count("confirmed", static_cast<int64_t>(confirmed.size()));
  count("retried", retried);
  count("retried_confirmed", retriedConfirmed);
  count("unconfirmed", static_cast<int64_t>(attemptsOfKey.size() - confirmed.size()));
  count("stored", storedKeys);
  count("stored_unconfirmed", storedUnconfirmed);
  count("lost", lost);
  count("duplicated", duplicated);
  count("keyless", keyless);
  count("failed", failed);
  for (NoAnswer kind : {NoAnswer::kRefused, NoAnswer::kTimeout, NoAnswer::kReset, NoAnswer::kError}) {
    count(noAnswerName(kind), noAnswers[kind]);
  }
  count("http_4xx", http4xx);
  count("http_5xx", http5xx);
  for (const auto& [status, times] : failedByStatus) {
    count("http_" + std::to_string(status), times);
  }
  count("longest_failure_run", run.count);
  add("longest_failure_run_s", fixed(run.seconds, 2));
  count("read_p50_ms", quantile(readLatencies, 0.5));
  count("read_p99_ms", quantile(readLatencies, 0.99));
  count("order_p50_ms", quantile(orderLatencies, 0.5));
  count("order_p99_ms", quantile(orderLatencies, 0.99));
  count("max_ms", allLatencyMax);
  std::string verdict = "ok";
  if (lost > 0 && duplicated > 0) {
    verdict = "LOST+DUPLICATED";
  } else if (lost > 0) {
    verdict = "LOST";
  } else if (duplicated > 0) {
    verdict = "DUPLICATED";
  }
  add("verdict", verdict);
  return summary;
}

std::string reportLine(const Summary& summary) {
  std::string line = "load";
  for (const auto& [key, value] : summary.fields) {
    line += ' ' + key + '=' + value;
  }
  return line;
}

}  // namespace mp::load
