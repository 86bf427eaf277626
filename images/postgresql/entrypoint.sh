#!/bin/bash
# Starts PostgreSQL, initialising PGDATA on the first start from POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB (the official postgres image's variables). Any command other than "postgres ..." runs as
# given (e.g. `psql`, `postgres --version`).
set -euo pipefail
(($# > 0)) || set -- postgres

if [[ $1 != postgres || ${2:-} == --version ]]; then
  exec "$@"
fi
shift || true

die() { printf 'postgresql-entrypoint: %s\n' "$*" >&2; exit 2; }

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
[[ $user =~ ^[a-z_][a-z0-9_]*$ ]] || die "POSTGRES_USER must be a lower-case SQL identifier, got '$user'"
[[ $database =~ ^[a-z_][a-z0-9_]*$ ]] || die "POSTGRES_DB must be a lower-case SQL identifier, got '$database'"
mkdir -p "$PGDATA"
chmod 0700 "$PGDATA"

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  [[ -n ${POSTGRES_PASSWORD:-} ]] || die "POSTGRES_PASSWORD is not set (needed to initialise $PGDATA)"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  # Every client but a local socket one must give the password.
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [[ $database != postgres ]]; then
    # The database is created on a server that listens on its socket only, so no client sees it half-made.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -q -c "CREATE DATABASE \"$database\" OWNER \"$user\""
    pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
  fi
  printf 'postgresql-entrypoint: initialised %s (user %s, database %s)\n' "$PGDATA" "$user" "$database" >&2
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
