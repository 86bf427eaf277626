# shellcheck shell=bash
# Private PostgreSQL 15 instances on 127.0.0.1 for tests and the local stack. Source after common.sh.
# PostgreSQL refuses to run as root, so the data dir belongs to the `postgres` user and the server runs as it.

MP_PG_BIN=${MP_PG_BIN:-/usr/lib/postgresql/15/bin}

mp_as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# pg_init DIR AUTH [PASSWORD]: creates a cluster in DIR/data. AUTH is `trust` (tests) or `scram-sha-256`.
pg_init() {
  local dir=$1 auth=$2 password=${3:-}
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
  local pwfile=()
  if [[ -n $password ]]; then
    printf '%s\n' "$password" >"$dir/.pwfile"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir/.pwfile"
    chmod 600 "$dir/.pwfile"
    pwfile=(--pwfile="$dir/.pwfile")
  fi
  mp_as_postgres "$MP_PG_BIN/initdb" -D "$dir/data" -U postgres --auth="$auth" "${pwfile[@]}" \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    return 1
  }
  rm -f "$dir/.pwfile"
}

# pg_start DIR PORT [extra postgres -c options...]: starts the cluster in DIR/data on 127.0.0.1:PORT.
pg_start() {
  local dir=$1 port=$2
  shift 2
  local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200"
  local o
  for o in "$@"; do opts+=" -c $o"; done
  mp_as_postgres "$MP_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "$opts" -w -t 30 start >/dev/null || {
    tail -20 "$dir/postgres.log" >&2
    return 1
  }
}

# pg_stop DIR: fast shutdown (clients disconnected, data kept).
pg_stop() {
  local dir=$1
  [[ -f $dir/data/postmaster.pid ]] || return 0
  mp_as_postgres "$MP_PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

# pg_running DIR: true while the server answers.
pg_running() {
  local dir=$1
  mp_as_postgres "$MP_PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}
