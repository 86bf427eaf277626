#include "gateway/upstream_response.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace mp::gateway {
namespace {

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxLineBytes = 4096;

std::string trimmed(const std::string& text, size_t from, size_t to) {
  while (from < to && (text[from] == ' ' || text[from] == '\t')) {
    ++from;
  }
  while (to > from && (text[to - 1] == ' ' || text[to - 1] == '\t' || text[to - 1] == '\r')) {
    --to;
  }
  return text.substr(from, to - from);
}

bool parseDecimal(const std::string& text, size_t* value) {
  if (text.empty() || text.size() > 18) {
    return false;
  }
  size_t result = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    result = result * 10 + static_cast<size_t>(c - '0');
  }
  *value = result;
  return true;
}

bool hasToken(const std::string& list, const char* token) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) {
      end = list.size();
    }
    if (strcasecmp(trimmed(list, start, end).c_str(), token) == 0) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

}  // namespace

void UpstreamResponse::fail(std::string error) {
  state_ = State::kFailed;
  error_ = std::move(error);
}

bool UpstreamResponse::parseHead(const std::string& head) {
  // "HTTP/1.1 200 OK"
  size_t lineEnd = std::min(head.find("\r\n"), head.size());
  std::string statusLine = head.substr(0, lineEnd);
  if (statusLine.size() < 12 || statusLine.compare(0, 5, "HTTP/") != 0 || statusLine[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(statusLine[9])) ||
      !std::isdigit(static_cast<unsigned char>(statusLine[10])) ||
      !std::isdigit(static_cast<unsigned char>(statusLine[11]))) {
    fail("malformed status line");
    return false;
  }
  keepAlive_ = statusLine.compare(0, 8, "HTTP/1.0") != 0;
  status_ = std::atoi(statusLine.substr(9, 3).c_str());
  bool chunked = false;
  bool haveLength = false;
  size_t length = 0;
  size_t start = lineEnd + 2;
  while (start < head.size()) {
    size_t end = head.find("\r\n", start);
    if (end == std::string::npos) {
      end = head.size();
    }
    size_t colon = head.find(':', start);
    if (colon == std::string::npos || colon >= end || colon == start) {
      fail("malformed header line");
      return false;
    }
    std::string name = head.substr(start, colon - start);
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    std::string value = trimmed(head, colon + 1, end);
    if (name == "content-length") {
      size_t parsed = 0;
      if (!parseDecimal(value, &parsed) || (haveLength && parsed != length)) {
        fail("invalid Content-Length");
        return false;
      }
      haveLength = true;
      length = parsed;
    } else if (name == "transfer-encoding") {
      chunked = hasToken(value, "chunked");
    } else if (name == "connection") {
      if (hasToken(value, "close")) {
        keepAlive_ = false;
      } else if (hasToken(value, "keep-alive")) {
        keepAlive_ = true;
      }
    }
    headers_.emplace_back(std::move(name), std::move(value));
    start = end + 2;
  }
  if (toHead_ || status_ < 200 || status_ == 204 || status_ == 304) {
    state_ = State::kDone;
  } else if (chunked) {
    chunked_ = true;
    state_ = State::kChunkSize;
  } else if (haveLength) {
    remaining_ = length;
    state_ = length == 0 ? State::kDone : State::kLength;
    body_.reserve(length);
  } else {
    untilClose_ = true;
    state_ = State::kUntilClose;
  }
  return true;
}

// One CRLF-terminated line, possibly across feeds; false when more bytes are needed.
bool UpstreamResponse::takeLine(const char*& data, const char* end, std::string* line) {
  const char* newline = static_cast<const char*>(std::memchr(data, '\n', static_cast<size_t>(end - data)));
  if (newline == nullptr) {
    pending_.append(data, end);
    data = end;
    if (pending_.size() > kMaxLineBytes) {
      fail("chunk line too long");
    }
    return false;
  }
  pending_.append(data, newline);
  data = newline + 1;
  if (!pending_.empty() && pending_.back() == '\r') {
    pending_.pop_back();
  }
  *line = std::move(pending_);
  pending_.clear();
  return true;
}

// Up to remaining_ body bytes; true when none remain.
bool UpstreamResponse::takeBody(const char*& data, const char* end) {
  size_t take = std::min(remaining_, static_cast<size_t>(end - data));
  body_.append(data, take);
  data += take;
  remaining_ -= take;
  return remaining_ == 0;
}

void UpstreamResponse::feed(const char* data, size_t size) {
  const char* end = data + size;
  while (data < end && state_ != State::kDone && state_ != State::kFailed) {
    switch (state_) {
      case State::kHead: {
        size_t before = pending_.size();
        pending_.append(data, end);
        // The blank line may straddle the previous piece: search from three bytes before it.
        size_t blank = pending_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
        if (blank == std::string::npos) {
          data = end;
          if (pending_.size() > kMaxHeadBytes) {
            fail("response head too large");
          }
          break;
        }
        data = end - (pending_.size() - (blank + 4));
        std::string head = pending_.substr(0, blank);
        pending_.clear();
        if (parseHead(head) && status_ >= 100 && status_ < 200 && status_ != 101) {
          // An interim answer (100 Continue): the real one follows.
          headers_.clear();
          state_ = State::kHead;
        }
        break;
      }
      case State::kLength:
        if (takeBody(data, end)) {
          state_ = State::kDone;
        }
        break;
      case State::kChunkSize: {
        std::string line;
        if (!takeLine(data, end, &line)) {
          break;
        }
        size_t semicolon = line.find(';');
        std::string digits = trimmed(line, 0, semicolon == std::string::npos ? line.size() : semicolon);
        char* stop = nullptr;
        unsigned long long chunk = std::strtoull(digits.c_str(), &stop, 16);
        if (digits.empty() || digits.size() > 15 || *stop != '\0') {
          fail("invalid chunk size");
          break;
        }
        remaining_ = static_cast<size_t>(chunk);
        state_ = chunk == 0 ? State::kTrailers : State::kChunkData;
        break;
      }
      case State::kChunkData:
        if (takeBody(data, end)) {
          state_ = State::kChunkEnd;
        }
        break;
      case State::kChunkEnd: {
        std::string line;
        if (!takeLine(data, end, &line)) {
          break;
        }
        if (!line.empty()) {
          fail("chunk not followed by CRLF");
          break;
        }
        state_ = State::kChunkSize;
        break;
      }
      case State::kTrailers: {
        std::string line;
        if (!takeLine(data, end, &line)) {
          break;
        }
        if (line.empty()) {
          state_ = State::kDone;
        }
        break;
      }
      case State::kUntilClose:
        body_.append(data, end);
        data = end;
        break;
      case State::kDone:
      case State::kFailed:
        break;
    }
  }
}

void UpstreamResponse::endOfStream() {
  if (state_ == State::kUntilClose) {
    state_ = State::kDone;
  } else if (state_ != State::kDone && state_ != State::kFailed) {
    fail(state_ == State::kHead && pending_.empty() ? "upstream closed the connection"
                                                    : "upstream closed the connection mid-response");
  }
}

}  // namespace mp::gateway
