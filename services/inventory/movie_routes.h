#pragma once

#include "http/http_server.h"
#include "inventory/movie_store.h"

namespace mp::inventory {

// Registers the /api/movies routes of docs/openapi.yaml on the server; handlers run on the worker pool.
void addMovieRoutes(http::HttpServer& server, MovieStore& store);

}  // namespace mp::inventory
