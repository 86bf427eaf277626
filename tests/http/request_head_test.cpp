// The strict check of a request head, as a table: what passes, and each malformed form with its status.
#include "http/request_head.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace mp::http {
namespace {

// The error code of docs/openapi.yaml each refusal's status is answered with ("" when accepted).
const std::map<int, std::string> kErrorCodes = {{0, ""},
                                                {400, "bad_request"},
                                                {411, "length_required"},
                                                {413, "payload_too_large"},
                                                {431, "header_too_large"}};

struct Case {
  std::string name;
  std::string head;
  int status;  // 0: accepted (so far)
};

TEST(RequestHead, Table) {
  const std::string host = "Host: x\r\n";
  std::vector<Case> cases = {
      {"complete GET", "GET /api/movies HTTP/1.1\r\n" + host + "\r\n", 0},
      {"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 0},
      {"partial request line", "GET /api/mo", 0},
      {"partial header", "GET / HTTP/1.1\r\nHos", 0},
      {"one leading empty line", "\r\nGET / HTTP/1.1\r\n\r\n", 0},
      {"asterisk", "OPTIONS * HTTP/1.1\r\n\r\n", 0},
      {"absolute form", "GET http://h/api HTTP/1.1\r\n\r\n", 0},
      {"same Content-Length twice", "POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n", 0},
      {"Content-Length at the limit", "POST / HTTP/1.1\r\nContent-Length: 1024\r\n\r\n", 0},
      {"garbage", "GARBAGE\r\n\r\n", 400},
      {"TLS bytes at once", std::string("\x16\x03\x01", 3), 400},
      {"lower-case method", "get / HTTP/1.1\r\n\r\n", 400},
      {"unknown method", "BREW / HTTP/1.1\r\n\r\n", 400},
      {"empty request line", "\r\n\r\n", 400},
      {"no version", "GET /\r\n\r\n", 400},
      {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 400},
      {"extra word", "GET / HTTP/1.1 x\r\n\r\n", 400},
      {"control byte in target", std::string("GET /\x01 HTTP/1.1\r\n\r\n"), 400},
      {"non-ASCII target", "GET /\xff HTTP/1.1\r\n\r\n", 400},
      {"relative target", "GET api HTTP/1.1\r\n\r\n", 400},
      {"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"space in name", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\n: x\r\n\r\n", 400},
      {"folding", "GET / HTTP/1.1\r\nA: 1\r\n b\r\n\r\n", 400},
      {"NUL in a value", std::string("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 25), 400},
      {"two Content-Lengths", "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", 400},
      {"negative Content-Length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"Content-Length with a sign", "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400},
      {"Content-Length and chunked",
       "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"chunked body", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"chunked, still arriving", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", 0},
      {"Content-Length over the limit", "POST / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", 413},
      {"Content-Length of 30 digits",
       "POST / HTTP/1.1\r\nContent-Length: 999999999999999999999999999999\r\n\r\n", 413},
      {"long header line", "GET / HTTP/1.1\r\nA: " + std::string(9000, 'a') + "\r\n\r\n", 431},
      {"long header line, still arriving", "GET / HTTP/1.1\r\nA: " + std::string(9000, 'a'), 431},
  };
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) {
    many += "A: 1\r\n";
  }
  cases.push_back({"101 header fields", many + "\r\n", 431});
  HeadLimits limits;
  limits.maxRequestBytes = 1024;
  for (const auto& c : cases) {
    const Status rejection = checkRequestHead(c.head, limits);
    EXPECT_EQ(rejection.httpStatus(), c.status) << c.name << ": " << rejection.message();
    EXPECT_EQ(rejection.reason(), kErrorCodes.at(c.status)) << c.name;
    EXPECT_EQ(rejection.ok(), c.status == 0) << c.name;
    if (c.status == 400) {
      EXPECT_EQ(rejection.code(), Code::kInvalidArgument) << c.name;
    }
    if (!rejection.ok()) {
      EXPECT_FALSE(rejection.message().empty()) << c.name;
    }
  }
}

}  // namespace
}  // namespace mp::http
