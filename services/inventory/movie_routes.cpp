#include "inventory/movie_routes.h"

#include <chrono>

#include "base/log.h"

namespace mp::inventory {
namespace {

using http::Request;
using http::Response;

// A database failure (any but kNotFound, which each route answers itself).
Response storageError(const Status& status) {
  if (status.code() == Code::kUnavailable) {
    return Response::error(503, "database_unavailable", "the movie database is not reachable; retry shortly");
  }
  return Response::error(500, "database_error", "the movie database refused the request");
}

// A JSON answer already written as text (movie.h's writers).
Response jsonText(int status, std::string body) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

Response notFound(int64_t id) {
  return Response::error(404, "not_found", "movie " + std::to_string(id) + " does not exist");
}

Response invalidId(const Request& request) {
  return Response::json(400, {{"error", "invalid_id"},
                              {"field", "id"},
                              {"message", "a movie id is a positive whole number, got \"" +
                                              request.param("id").value_or("") + "\""}});
}

// The unpaged list is read and sent in batches: a first one of kFirstBatch movies (what fits in it is one
// answer, and its first byte does not wait for more), then kStreamBatch at a time (fewer round trips).
constexpr int64_t kFirstBatch = 1000;
constexpr int64_t kStreamBatch = 10000;
// The next batch is read only once at most this much of the answer waits to go out: the client's pace
// sets the database's (back-pressure), so memory holds a batch and this, whatever the table's size.
constexpr size_t kStreamWindow = 256 * 1024;
// A client that takes nothing of the answer for this long is given up on.
constexpr std::chrono::seconds kStreamStall{30};

// One page (limit): as one answer, with a Link to the next page when one follows.
Response listPage(MovieStore& store, const Request& request, const MovieQuery& query) {
  auto page = store.list(query);
  if (!page.ok()) {
    return storageError(page.status());
  }
  Response response = jsonText(200, moviesJson(page->movies));
  if (page->more && !page->movies.empty()) {
    response.headers.emplace_back("Link", nextPageLink(request.query, page->movies.back().id));
  }
  return response;
}

// Without a limit: every movie that matches, read by keyset in batches (MovieStore::list
// with after_id the last id sent) and sent as they come, chunked, one piece of the JSON array per batch.
// A list that fits in one batch is one answer with a Content-Length, as a page is. A batch that fails
// after the head went out cuts the answer short (ResponseStream::abort): a client sees a truncated
// body, never a well-formed partial list (docs/contract.md).
void streamList(MovieStore& store, const MovieQuery& query, http::ResponseStream& answer) {
  MovieQuery batch = query;
  batch.limit = kFirstBatch;
  auto page = store.list(batch);
  if (!page.ok()) {
    answer.send(storageError(page.status()));
    return;
  }
  if (!page->more) {
    answer.send(jsonText(200, moviesJson(page->movies)));
    return;
  }
  answer.begin(jsonText(200, ""));
  answer.write("[" + moviesJsonPiece(page->movies, true));
  size_t sent = page->movies.size();
  while (page->more) {
    if (!answer.waitDrained(kStreamWindow, kStreamStall)) {
      log::warn("list_stream_stopped",
                {{"reason", answer.gone() ? "client gone" : "client stalled"}, {"movies_sent", sent}});
      answer.abort();
      return;
    }
    batch.afterId = page->movies.back().id;
    batch.offset = 0;
    batch.limit = kStreamBatch;
    page = store.list(batch);
    if (!page.ok()) {
      log::warn("list_stream_failed", {{"reason", page.status().message()}, {"movies_sent", sent}});
      answer.abort();
      return;
    }
    answer.write(moviesJsonPiece(page->movies, false));
    sent += page->movies.size();
  }
  answer.write("]");
  answer.end();
}

void listMovies(MovieStore& store, const Request& request, http::ResponseStream& answer) {
  auto query = parseMovieQuery(request);
  if (!query.ok()) {
    answer.send(Response::error(query.status()));
    return;
  }
  if (query->limit) {
    answer.send(listPage(store, request, *query));
    return;
  }
  streamList(store, *query, answer);
}

// The answer to a route that returns one movie.
Response movieAnswer(int status, int64_t id, const StatusOr<Movie>& movie) {
  if (movie.status().code() == Code::kNotFound) {
    return notFound(id);
  }
  if (!movie.ok()) {
    return storageError(movie.status());
  }
  return jsonText(status, movieJson(*movie));
}

void createMovie(MovieStore& store, const Request& request, http::Reply reply) {
  auto input = parseMovieInput(request);
  if (!input.ok()) {
    reply(Response::error(input.status()));
    return;
  }
  store.create(*input, [reply](StatusOr<Movie> movie) {
    if (!movie.ok()) {
      reply(storageError(movie.status()));  // kNotFound too: the INSERT returned no row
      return;
    }
    auto response = jsonText(201, movieJson(*movie));
    response.headers.emplace_back("Location", "/api/movies/" + std::to_string(movie->id));
    reply(std::move(response));
  });
}

void deleteAllMovies(MovieStore& store, http::Reply reply) {
  store.removeAll([reply](StatusOr<int64_t> deleted) {
    reply(deleted.ok() ? Response::json(200, {{"deleted", *deleted}}) : storageError(deleted.status()));
  });
}

void getMovie(MovieStore& store, const Request& request, http::Reply reply) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    reply(invalidId(request));
    return;
  }
  store.find(*id, [reply, id = *id](StatusOr<Movie> movie) { reply(movieAnswer(200, id, movie)); });
}

void updateMovie(MovieStore& store, const Request& request, http::Reply reply) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    reply(invalidId(request));
    return;
  }
  auto input = parseMovieInput(request);
  if (!input.ok()) {
    reply(Response::error(input.status()));
    return;
  }
  store.update(*id, *input, [reply, id = *id](StatusOr<Movie> movie) { reply(movieAnswer(200, id, movie)); });
}

void deleteMovie(MovieStore& store, const Request& request, http::Reply reply) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    reply(invalidId(request));
    return;
  }
  store.remove(*id, [reply, id = *id](StatusOr<int64_t> deleted) {
    if (!deleted.ok()) {
      reply(storageError(deleted.status()));
      return;
    }
    reply(*deleted > 0 ? Response::json(200, {{"deleted", 1}}) : notFound(id));
  });
}

}  // namespace

void addMovieRoutes(http::HttpServer& server, MovieStore& store) {
  auto* s = &store;
  using http::Reply;
  // One movie at a time: answered from the pool's loop thread, no thread waits on the database. A list
  // runs on a worker (MovieStore::list), which waits for the client too when it streams.
  server.routeStream(
      "GET", "/api/movies",
      [s](const Request& r, std::shared_ptr<http::ResponseStream> answer) { listMovies(*s, r, *answer); });
  server.routeAsync("POST", "/api/movies", [s](const Request& r, Reply reply) { createMovie(*s, r, reply); });
  server.routeAsync("DELETE", "/api/movies",
                    [s](const Request&, Reply reply) { deleteAllMovies(*s, reply); });
  server.routeAsync("GET", "/api/movies/:id", [s](const Request& r, Reply reply) { getMovie(*s, r, reply); });
  server.routeAsync("PUT", "/api/movies/:id",
                    [s](const Request& r, Reply reply) { updateMovie(*s, r, reply); });
  server.routeAsync("DELETE", "/api/movies/:id",
                    [s](const Request& r, Reply reply) { deleteMovie(*s, r, reply); });
}

}  // namespace mp::inventory
