#pragma once

#include <cstddef>
#include <string_view>

#include "base/status.h"

namespace mp::http {

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
// `head` is what arrived so far, possibly incomplete (checked again as more arrives). Ok: nothing wrong
// so far; a refusal is Status::fromHttp(status, error code of docs/openapi.yaml, a sentence for the
// client): 400 bad_request, 411 length_required, 413 payload_too_large or 431 header_too_large, answered
// by Response::error(status). A pure function.
Status checkRequestHead(std::string_view head, const HeadLimits& limits);

}  // namespace mp::http
