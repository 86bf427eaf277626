// libFuzzer harness: inventory-app's request validation, the code every POST/PUT body, query string and
// path id reaches before any database work. It must answer each input with a value or a 4xx, never crash.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/json_body.h"
#include "http/http.h"
#include "inventory/movie.h"

namespace {

void expectClientError(const mp::http::Response& response) {
  if (response.status < 400 || response.status > 499) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  namespace inventory = mp::inventory;

  mp::http::Request body;
  body.method = "POST";
  body.path = "/api/movies";
  body.headers = {{"content-type", "application/json"}};
  body.body = input;
  auto movie = inventory::parseMovieInput(body);
  if (const inventory::MovieInput* accepted = movie.ok() ? &*movie : nullptr) {
    size_t length = mp::http::utf8Length(accepted->title);
    if (length == 0 || length > inventory::kMaxTitleLength || !mp::http::isValidUtf8(accepted->title)) {
      std::abort();
    }
  } else {
    expectClientError(mp::http::Response::error(movie.status()));
  }

  mp::http::Request list;
  list.method = "GET";
  list.path = "/api/movies";
  list.rawQuery = input;
  if (auto query = mp::http::parseQuery(input)) {
    list.query = *query;
    auto parsed = inventory::parseMovieQuery(list);
    if (const inventory::MovieQuery* accepted = parsed.ok() ? &*parsed : nullptr) {
      if (accepted->offset < 0 ||
          (accepted->limit && (*accepted->limit < 0 || *accepted->limit > inventory::kMaxLimit))) {
        std::abort();
      }
      if (accepted->title) {
        inventory::containsPattern(*accepted->title);
      }
    } else {
      expectClientError(mp::http::Response::error(parsed.status()));
    }
  }

  if (auto id = inventory::parseMovieId(input); id && *id <= 0) {
    std::abort();
  }
  return 0;
}
