#include "inventory/movie_routes.h"

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

Response listMovies(MovieStore& store, const Request& request) {
  auto query = parseMovieQuery(request);
  if (!query.ok()) {
    return Response::error(query.status());
  }
  auto movies = store.list(*query);
  if (!movies.ok()) {
    return storageError(movies.status());
  }
  return jsonText(200, moviesJson(*movies));
}

Response createMovie(MovieStore& store, const Request& request) {
  auto input = parseMovieInput(request);
  if (!input.ok()) {
    return Response::error(input.status());
  }
  auto movie = store.create(*input);
  if (!movie.ok()) {
    return storageError(movie.status());  // kNotFound too: the INSERT returned no row
  }
  auto response = jsonText(201, movieJson(*movie));
  response.headers.emplace_back("Location", "/api/movies/" + std::to_string(movie->id));
  return response;
}

Response deleteAllMovies(MovieStore& store) {
  auto deleted = store.removeAll();
  if (!deleted.ok()) {
    return storageError(deleted.status());
  }
  return Response::json(200, {{"deleted", *deleted}});
}

Response getMovie(MovieStore& store, const Request& request) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    return invalidId(request);
  }
  auto movie = store.find(*id);
  if (movie.status().code() == Code::kNotFound) {
    return notFound(*id);
  }
  if (!movie.ok()) {
    return storageError(movie.status());
  }
  return jsonText(200, movieJson(*movie));
}

Response updateMovie(MovieStore& store, const Request& request) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    return invalidId(request);
  }
  auto input = parseMovieInput(request);
  if (!input.ok()) {
    return Response::error(input.status());
  }
  auto movie = store.update(*id, *input);
  if (movie.status().code() == Code::kNotFound) {
    return notFound(*id);
  }
  if (!movie.ok()) {
    return storageError(movie.status());
  }
  return jsonText(200, movieJson(*movie));
}

Response deleteMovie(MovieStore& store, const Request& request) {
  auto id = parseMovieId(request.param("id").value_or(""));
  if (!id) {
    return invalidId(request);
  }
  auto deleted = store.remove(*id);
  if (!deleted.ok()) {
    return storageError(deleted.status());
  }
  return *deleted > 0 ? Response::json(200, {{"deleted", 1}}) : notFound(*id);
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
