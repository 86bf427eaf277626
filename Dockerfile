# The four movie-platform programs, built from this repository's sources. One target per program:
#   buildah bud --target inventory-app -t movie-platform/inventory-app:0.1.0 .   (scripts/build-images)
# The builder compiles every program whose source is in the tree; each final stage is bookworm-slim with
# only that program's runtime libraries, runs as a numeric non-root user and needs no shell (exec-form
# ENTRYPOINT). No HEALTHCHECK: Kubernetes probes /healthz and /readyz.
# The builder configures with the release preset, the flags scripts/test's release tree uses. When a
# ccache directory is mounted at /var/cache/movie-platform/ccache (scripts/build-images mounts the host's),
# it compiles through it and reuses what that tree compiled; otherwise without ccache.

FROM debian:bookworm AS builder
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ make cmake pkg-config ccache \
      libpistache-dev libpq-dev nlohmann-json3-dev prometheus-cpp-dev librabbitmq-dev libyaml-cpp-dev \
      libcurl4-openssl-dev libssl-dev libgtest-dev libgmock-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore lets in only CMake files and the program sources.
COPY . .
RUN if [ -d /var/cache/movie-platform/ccache ]; then ccache=ON; else ccache=OFF; fi \
 && cmake --preset release -DMP_CCACHE="$ccache" >/dev/null \
 && make -C build help >/tmp/targets \
 && for program in inventory-app billing-app api-gateway platform-operator; do \
      if grep -qx "\.\.\. $program" /tmp/targets; then \
        cmake --build build -j2 --target "$program" || exit 1; \
      fi; \
    done \
 && strip build/bin/*

FROM debian:bookworm-slim AS inventory-app
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpistache0 libpq5 libprometheus-cpp-core1.0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /src/build/bin/inventory-app /usr/local/bin/inventory-app
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/inventory-app"]

FROM debian:bookworm-slim AS billing-app
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpistache0 libpq5 libprometheus-cpp-core1.0 librabbitmq4 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /src/build/bin/billing-app /usr/local/bin/billing-app
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/billing-app"]

FROM debian:bookworm-slim AS api-gateway
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpistache0 libprometheus-cpp-core1.0 librabbitmq4 libcurl4 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /src/build/bin/api-gateway /usr/local/bin/api-gateway
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/api-gateway"]

FROM debian:bookworm-slim AS platform-operator
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpistache0 libprometheus-cpp-core1.0 libcurl4 libyaml-cpp0.7 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /src/build/bin/platform-operator /usr/local/bin/platform-operator
USER 10001:10001
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/platform-operator"]
