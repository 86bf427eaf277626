#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mp::http {

// Why a request head is refused: the status, the error code of docs/openapi.yaml and a sentence for the
// client.
struct HeadRejection {
  int status;
  std::string code;
  std::string message;
};

struct HeadLimits {
  size_t maxRequestBytes = 1 << 20;  // a declared Content-Length above this is 413 at once
  size_t maxHeaderLineBytes = 8192;  // one header field line; longer is 431
  size_t maxHeaders = 100;           // more header fields is 431
};

// Checks the head of one HTTP/1.x request (request line and header fields), strictly per RFC 9112,
// before Pistache parses it: Pistache 0.0.5 waits forever on a request line without spaces, accepts
// header lines without a colon or with spaces in the name, keeps the first of two different
// Content-Length values (a request smuggling vector), reserves memory for any declared length, and
// reads chunk sizes past its buffer (so a request with Transfer-Encoding is 411: send a Content-Length).
// `head` is what arrived so far, possibly incomplete (checked again as more arrives). nullopt: nothing
// wrong so far. A pure function.
std::optional<HeadRejection> checkRequestHead(std::string_view head, const HeadLimits& limits);

}  // namespace mp::http
