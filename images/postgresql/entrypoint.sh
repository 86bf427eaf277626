#!/bin/bash
# Starts PostgreSQL, initialising PGDATA on the first start from POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB (the official postgres image's variables). Any command other than "postgres ..." runs as
# given (e.g. `psql`, `postgres --version`), but for `patroni` alone: one member of a Patroni cluster
# (patroni_mode below).
set -euo pipefail
(($# > 0)) || set -- postgres

die() { printf 'postgresql-entrypoint: %s\n' "$*" >&2; exit 2; }
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
# Backups (pgbackrest.sh): with PGBACKREST_STANZA set, PostgreSQL archives every WAL segment into the
# pgBackRest repository, at the latest ARCHIVE_TIMEOUT seconds (default 60) after a write.
# shellcheck source=images/postgresql/pgbackrest.sh
source "$here/pgbackrest.sh"
archive_timeout=${ARCHIVE_TIMEOUT:-60}
[[ $archive_timeout =~ ^[0-9]+$ ]] || die "ARCHIVE_TIMEOUT must be a number of seconds, got '$archive_timeout'"

# RESTORE_TARGET (with backups on): `latest` or a time ('2026-12-07 16:40:00+00'). On start, PGDATA is
# restored from the repository to it (mp-pg-restore) once: PGDATA/mp-restored-to remembers the target,
# so that a restart does not restore again. An empty PGDATA is restored instead of initialised: a new
# release from the repository alone.
restore_if_asked() {
  local target=${RESTORE_TARGET:-}
  [[ -n $target ]] || return 0
  pgbackrest_enabled || die "RESTORE_TARGET is set but PGBACKREST_STANZA is not: no repository to restore from"
  [[ $(cat "$PGDATA/mp-restored-to" 2>/dev/null) != "$target" ]] || return 0
  if [[ $target == latest ]]; then
    "$here/mp-pg-restore" --latest
  else
    "$here/mp-pg-restore" --to "$target"
  fi
  printf '%s\n' "$target" >"$PGDATA/mp-restored-to"
}

# `patroni` alone: one member of a Patroni cluster whose store is the Kubernetes API (no etcd), its
# configuration written from the environment (the Dockerfile lists the variables), then Patroni exec'd;
# Patroni itself runs initdb on the first member and a base backup on the others.
patroni_mode() {
  local config=${PATRONI_CONFIG_FILE:-/tmp/patroni.yml} name repl_user self listen port
  : "${PATRONI_SCOPE:?PATRONI_SCOPE (the cluster name) is not set}"
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD (the superuser password) is not set}"
  : "${PATRONI_REPLICATION_PASSWORD:?PATRONI_REPLICATION_PASSWORD is not set}"
  : "${PATRONI_KUBERNETES_POD_IP:?PATRONI_KUBERNETES_POD_IP (the pod IP, from the downward API) is not set}"
  name=${PATRONI_NAME:-${HOSTNAME:?neither PATRONI_NAME nor HOSTNAME is set}}
  repl_user=${PATRONI_REPLICATION_USERNAME:-replicator}
  self=$(readlink -f "${BASH_SOURCE[0]}")
  listen=${PATRONI_POSTGRESQL_LISTEN:-0.0.0.0:5432}
  port=${listen##*:}
  [[ $port =~ ^[0-9]+$ ]] || die "PATRONI_POSTGRESQL_LISTEN must end in :PORT, got '$listen'"
  [[ ${POSTGRES_USER:-postgres} =~ ^[a-z_][a-z0-9_]*$ ]] || die "POSTGRES_USER must be a lower-case SQL identifier"
  [[ $repl_user =~ ^[a-z_][a-z0-9_]*$ ]] || die "PATRONI_REPLICATION_USERNAME must be a lower-case SQL identifier"
  # The labels go into the YAML as they are: one flow mapping, no nesting.
  local labels=${PATRONI_KUBERNETES_LABELS:-'{application: patroni}'}
  [[ $labels =~ ^\{[^{}]*\}$ ]] || die "PATRONI_KUBERNETES_LABELS must be one flow mapping, e.g. '{app: db}'"
  # With backups on, every member archives into the one repository (only the leader's archiver runs:
  # archive_mode on, not always), a replica fetches from it what streaming no longer has, and a new
  # replica is restored from it (then streams), or copied from the leader when it holds no backup yet.
  # With RESTORE_TARGET, the cluster's first member is restored from it instead of initdb (Patroni's
  # custom bootstrap; it runs only while the cluster's initialize key is absent from the API server).
  local archiving="" replicas="" bootstrap="" restore_args=--latest
  if pgbackrest_enabled; then
    pgbackrest_write_config
    archiving="archive_mode: \"on\", archive_command: \"$(pgbackrest_archive_command)\", archive_timeout: $archive_timeout,"
    replicas="create_replica_methods: [pgbackrest, basebackup]
  pgbackrest: {command: \"pgbackrest --config=$(pgbackrest_config) --stanza=$PGBACKREST_STANZA --delta restore\", keep_data: true, no_params: true}
  recovery_conf: {restore_command: '$(pgbackrest_restore_command)'}"
    if [[ -n ${RESTORE_TARGET:-} ]]; then
      [[ $RESTORE_TARGET != *[\'\"]* ]] || die "RESTORE_TARGET must not hold a quote"
      [[ $RESTORE_TARGET == latest ]] || restore_args="--to '$RESTORE_TARGET'"
      bootstrap="method: pgbackrest_restore
  pgbackrest_restore: {command: \"$here/mp-pg-restore $restore_args\", keep_existing_recovery_conf: true, no_params: true}"
    fi
  elif [[ -n ${RESTORE_TARGET:-} ]]; then
    die "RESTORE_TARGET is set but PGBACKREST_STANZA is not: no repository to restore from"
  fi
  (umask 077 && cat >"$config") <<YAML
scope: "$PATRONI_SCOPE"
name: "$name"
restapi:
  listen: "${PATRONI_RESTAPI_LISTEN:-0.0.0.0:8008}"
  connect_address: "${PATRONI_RESTAPI_CONNECT_ADDRESS:-$PATRONI_KUBERNETES_POD_IP:8008}"
kubernetes:
  namespace: "${PATRONI_KUBERNETES_NAMESPACE:-default}"
  labels: $labels
  role_label: role
  use_endpoints: true
  pod_ip: "$PATRONI_KUBERNETES_POD_IP"
  ports: [{name: postgresql, port: $port}]
bootstrap:
  dcs:
    ttl: ${PATRONI_TTL:-30}
    loop_wait: ${PATRONI_LOOP_WAIT:-10}
    retry_timeout: ${PATRONI_RETRY_TIMEOUT:-10}
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
  $bootstrap
  initdb: [{encoding: UTF8}, {locale: C.UTF-8}, data-checksums]
  post_bootstrap: "$self patroni-post-bootstrap"
postgresql:
  listen: "$listen"
  connect_address: "${PATRONI_POSTGRESQL_CONNECT_ADDRESS:-$PATRONI_KUBERNETES_POD_IP:$port}"
  data_dir: "$PGDATA"
  bin_dir: "${PATRONI_POSTGRESQL_BIN_DIR:-/usr/lib/postgresql/15/bin}"
  pgpass: "${PATRONI_POSTGRESQL_PGPASS:-/tmp/pgpass}"
  # A new replica's pg_basebackup asks for a fast checkpoint: the default spread one kept a replica
  # of a freshly bootstrapped leader waiting over 90 s (tests/ha/patroni-failover).
  basebackup: [{checkpoint: fast}]
  $replicas
  authentication:
    superuser: {username: "${POSTGRES_USER:-postgres}", password: "$POSTGRES_PASSWORD"}
    replication: {username: "$repl_user", password: "$PATRONI_REPLICATION_PASSWORD"}
  pg_hba:
    - local all all trust
    - host replication $repl_user all scram-sha-256
    - host all all all scram-sha-256
  parameters: {
    $archiving
    password_encryption: scram-sha-256,
    unix_socket_directories: "${PATRONI_POSTGRESQL_SOCKET_DIR:-/var/run/postgresql}"}
YAML
  # Patroni would read PATRONI_* variables over its file; the passwords are in the file (mode 600).
  unset POSTGRES_PASSWORD PATRONI_REPLICATION_PASSWORD
  # Not exec'd: as PID 1 Patroni forks its real process and passes signals on, but the child inherits
  # that forwarder for SIGINT with no child of its own to pass it to, so the image's stop signal (SIGINT,
  # PostgreSQL's fast shutdown) was lost: Kubernetes killed the member after its grace period, its
  # leader lock was never released, and the cluster waited out the lock's ttl (tests/cluster/ha: a drain
  # of 64 s, then 28 s of failed reads). Here the stop signal reaches Patroni as SIGTERM, its clean stop
  # (PostgreSQL stopped, the leader lock released at once).
  local patroni="" rc
  # Trapped before Patroni starts: a stop signal meanwhile ends the member before it begins.
  trap 'if [[ -n $patroni ]]; then kill -TERM "$patroni" 2>/dev/null; else exit 143; fi' INT TERM
  patroni "$config" &
  patroni=$!
  # wait returns early when a trapped signal arrives: wait again until Patroni has exited.
  while :; do
    rc=0
    wait "$patroni" || rc=$?
    kill -0 "$patroni" 2>/dev/null || break
  done
  exit "$rc"
}

# Patroni's post_bootstrap, run once on the member that ran initdb, with a superuser connection string:
# the database of POSTGRES_DB, as in the single-instance mode.
patroni_post_bootstrap() {
  local user=${POSTGRES_USER:-postgres}
  local database=${POSTGRES_DB:-$user}
  [[ $database =~ ^[a-z_][a-z0-9_]*$ ]] || die "POSTGRES_DB must be a lower-case SQL identifier, got '$database'"
  [[ $database == postgres ]] && exit 0
  psql -v ON_ERROR_STOP=1 -d "$1" -q -c "CREATE DATABASE \"$database\" OWNER \"$user\""
  exit 0
}

if [[ $1 == patroni && $# == 1 ]]; then
  patroni_mode
elif [[ $1 == patroni-post-bootstrap ]]; then
  patroni_post_bootstrap "${2:?patroni-post-bootstrap takes the connection string Patroni passes}"
elif [[ $1 != postgres || ${2:-} == --version ]]; then
  exec "$@"
fi
shift || true

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
[[ $user =~ ^[a-z_][a-z0-9_]*$ ]] || die "POSTGRES_USER must be a lower-case SQL identifier, got '$user'"
[[ $database =~ ^[a-z_][a-z0-9_]*$ ]] || die "POSTGRES_DB must be a lower-case SQL identifier, got '$database'"
mkdir -p "$PGDATA"
chmod 0700 "$PGDATA"
backup_options=()
if pgbackrest_enabled; then
  pgbackrest_write_config
  restore_if_asked
  backup_options=(-c archive_mode=on -c "archive_command=$(pgbackrest_archive_command)"
    -c "archive_timeout=$archive_timeout")
fi

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

exec postgres -D "$PGDATA" -c listen_addresses='*' "${backup_options[@]}" "$@"
