#include "inventory/movie_routes.h"

namespace mp::inventory {
namespace {

using http::Request;
using http::Response;

template <typename T>
Response storageError(const Stored<T>& stored) {
  if (stored.error == pg::ErrorKind::kUnavailable) {
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

Response listMovies(MovieStore& store, const Request& request) {
  auto query = parseMovieQuery(request);
  if (auto* error = std::get_if<Response>(&query)) {
    return *error;
  }
  auto stored = store.list(std::get<MovieQuery>(query));
  if (stored.failed()) {
    return storageError(stored);
  }
  return jsonText(200, moviesJson(*stored.value));
}

Response createMovie(MovieStore& store, const Request& request) {
  auto input = parseMovieInput(request);
  if (auto* error = std::get_if<Response>(&input)) {
    return *error;
  }
  auto stored = store.create(std::get<MovieInput>(input));
  if (stored.failed() || !stored.value) {
    return storageError(stored);
  }
  auto response = jsonText(201, movieJson(*stored.value));
  response.headers.emplace_back("Location", "/api/movies/" + std::to_string(stored.value->id));
  return response;
}

Response deleteAllMovies(MovieStore& store) {
  auto stored = store.removeAll();
  if (stored.failed()) {
    return storageError(stored);
  }
  return Response::json(200, {{"deleted", *stored.value}});
}

Response getMovie(MovieStore& store, const Request& request) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    return invalidId(request);
  }
  auto stored = store.find(*id);
  if (stored.failed()) {
    return storageError(stored);
  }
  return stored.value ? jsonText(200, movieJson(*stored.value)) : notFound(*id);
}

Response updateMovie(MovieStore& store, const Request& request) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    return invalidId(request);
  }
  auto input = parseMovieInput(request);
  if (auto* error = std::get_if<Response>(&input)) {
    return *error;
  }
  auto stored = store.update(*id, std::get<MovieInput>(input));
  if (stored.failed()) {
    return storageError(stored);
  }
  return stored.value ? jsonText(200, movieJson(*stored.value)) : notFound(*id);
}

Response deleteMovie(MovieStore& store, const Request& request) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    return invalidId(request);
  }
  auto stored = store.remove(*id);
  if (stored.failed()) {
    return storageError(stored);
  }
  return *stored.value > 0 ? Response::json(200, {{"deleted", 1}}) : notFound(*id);
}

}  // namespace

void addMovieRoutes(http::HttpServer& server, MovieStore& store) {
  auto* s = &store;
  server.route("GET", "/api/movies", [s](const Request& r) { return listMovies(*s, r); });
  server.route("POST", "/api/movies", [s](const Request& r) { return createMovie(*s, r); });
  server.route("DELETE", "/api/movies", [s](const Request&) { return deleteAllMovies(*s); });
  server.route("GET", "/api/movies/:id", [s](const Request& r) { return getMovie(*s, r); });
  server.route("PUT", "/api/movies/:id", [s](const Request& r) { return updateMovie(*s, r); });
  server.route("DELETE", "/api/movies/:id", [s](const Request& r) { return deleteMovie(*s, r); });
}

}  // namespace mp::inventory
