// The upstream answer reader: every body framing HTTP/1.1 allows, fed whole and one byte at a time.
#include "gateway/upstream_response.h"

#include <gtest/gtest.h>

#include <string>

namespace mp::gateway {
namespace {

// Feeds `bytes` in pieces of `piece` bytes (0: all at once).
UpstreamResponse read(const std::string& bytes, size_t piece, bool head = false, bool endOfStream = false) {
  UpstreamResponse response(head);
  size_t step = piece == 0 ? bytes.size() : piece;
  for (size_t at = 0; at < bytes.size(); at += step) {
    response.feed(bytes.data() + at, std::min(step, bytes.size() - at));
  }
  if (endOfStream) {
    response.endOfStream();
  }
  return response;
}

TEST(UpstreamResponse, EveryFramingIsReadWholeInPiecesOfAnySize) {
  struct Case {
    const char* name;
    std::string bytes;
    bool head;
    bool endOfStream;
    int status;
    std::string body;
    bool reusable;
  };
  const Case cases[] = {
      {"content-length",
       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}", false,
       false, 200, "{\"a\":1}", true},
      {"chunked with extension and trailer",
       "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nT: "
       "v\r\n\r\n",
       false, false, 201, "Wikipedia", true},
      {"until close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end", false, true, 200,
       "to the end", false},
      {"HTTP/1.0 is not kept alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false, 200,
       "ok", false},
      {"no body for HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", true, false, 200, "", true},
      {"no body for 204", "HTTP/1.1 204 No Content\r\n\r\n", false, false, 204, "", true},
      {"interim 100 then the answer",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx", false, false, 404,
       "x", true},
  };
  for (const auto& c : cases) {
    for (size_t piece : {0, 1, 3}) {
      auto response = read(c.bytes, piece, c.head, c.endOfStream);
      ASSERT_TRUE(response.complete()) << c.name << ", pieces of " << piece << ": " << response.error();
      EXPECT_EQ(response.status(), c.status) << c.name;
      EXPECT_EQ(response.body(), c.body) << c.name << ", pieces of " << piece;
      EXPECT_EQ(response.reusable(), c.reusable) << c.name;
    }
  }
}

TEST(UpstreamResponse, HeaderNamesAreLowerCaseAndValuesTrimmed) {
  auto response =
      read("HTTP/1.1 201 Created\r\nLocation:  /api/movies/7 \r\nAllow: GET\r\nContent-Length: 0\r\n\r\n", 0);
  ASSERT_TRUE(response.complete());
  ASSERT_EQ(response.headers().size(), 3u);
  EXPECT_EQ(response.headers()[0].first, "location");
  EXPECT_EQ(response.headers()[0].second, "/api/movies/7");
}

TEST(UpstreamResponse, BrokenOrCutAnswersAreErrors) {
  for (const std::string& bytes :
       {std::string("garbage\r\n\r\n"), std::string("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
        std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    EXPECT_TRUE(read(bytes, 0).failed()) << bytes;
  }
  auto cut = read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, false, true);
  EXPECT_TRUE(cut.failed());
  EXPECT_EQ(cut.error(), "upstream closed the connection mid-response");
  auto nothing = read("", 0, false, true);
  EXPECT_EQ(nothing.error(), "upstream closed the connection");
  EXPECT_TRUE(read(std::string(70 * 1024, 'a'), 0).failed()) << "a head without end";
}

}  // namespace
}  // namespace mp::gateway
