# shellcheck shell=bash
# pgBackRest settings for this image, sourced by the entrypoint, mp-pg-backup and mp-pg-restore.
# Backups are on when PGBACKREST_STANZA is set (the stanza: one per database cluster, e.g. the release's
# inventory-database). Every pgBackRest setting can be given as pgBackRest's own variable,
# PGBACKREST_<OPTION> (its docs, "Environment"); these defaults apply when it is not:
#   PGBACKREST_REPO1_PATH=/var/lib/pgbackrest   the repository (a volume of its own)
#   PGBACKREST_REPO1_RETENTION_FULL=2           full backups kept (their diffs and WAL with them)
#   PGBACKREST_REPO1_RETENTION_DIFF=6           differential backups kept
#   PGBACKREST_PG1_PATH=$PGDATA, PGBACKREST_PG1_SOCKET_PATH=/var/run/postgresql, PGBACKREST_PG1_PORT=5432,
#   PGBACKREST_PG1_USER=$POSTGRES_USER (the superuser over the local socket)
# An S3-compatible store instead: PGBACKREST_REPO1_TYPE=s3, PGBACKREST_REPO1_S3_BUCKET, _S3_ENDPOINT,
# _S3_REGION, _S3_KEY, _S3_KEY_SECRET (and _S3_URI_STYLE=path for MinIO and the like).
# Every setting goes into one file (PGBACKREST_CONFIG, default /tmp/pgbackrest/pgbackrest.conf, mode 600),
# so that archive_command, run by PostgreSQL without this environment, reads the same ones.

pgbackrest_enabled() { [[ -n ${PGBACKREST_STANZA:-} ]]; }

pgbackrest_config() { echo "${PGBACKREST_CONFIG:-/tmp/pgbackrest/pgbackrest.conf}"; }

# The archive_command: no shell operators in it (Patroni before 3.1.0 does not run it through a shell).
pgbackrest_archive_command() {
  printf 'pgbackrest --config=%s --stanza=%s archive-push %%p' "$(pgbackrest_config)" "$PGBACKREST_STANZA"
}
pgbackrest_restore_command() {
  printf 'pgbackrest --config=%s --stanza=%s archive-get %%f "%%p"' "$(pgbackrest_config)" "$PGBACKREST_STANZA"
}

# Writes the configuration file from the environment (each call anew: it is cheap and always current).
pgbackrest_write_config() {
  local config name key value dir
  config=$(pgbackrest_config)
  dir=$(dirname "$config")
  [[ $PGBACKREST_STANZA =~ ^[A-Za-z0-9_.-]+$ ]] || {
    printf 'pgbackrest: PGBACKREST_STANZA must be letters, digits, . _ -, got %s\n' "$PGBACKREST_STANZA" >&2
    return 2
  }
  export PGBACKREST_REPO1_PATH=${PGBACKREST_REPO1_PATH:-/var/lib/pgbackrest}
  export PGBACKREST_REPO1_RETENTION_FULL=${PGBACKREST_REPO1_RETENTION_FULL:-2}
  export PGBACKREST_REPO1_RETENTION_DIFF=${PGBACKREST_REPO1_RETENTION_DIFF:-6}
  export PGBACKREST_PG1_PATH=${PGBACKREST_PG1_PATH:-${PGDATA:?PGDATA is not set}}
  export PGBACKREST_PG1_SOCKET_PATH=${PGBACKREST_PG1_SOCKET_PATH:-/var/run/postgresql}
  export PGBACKREST_PG1_PORT=${PGBACKREST_PG1_PORT:-5432}
  export PGBACKREST_PG1_USER=${PGBACKREST_PG1_USER:-${POSTGRES_USER:-postgres}}
  # Logs go to stderr (the container's log), none to files; the lock and spool in the writable /tmp.
  export PGBACKREST_LOG_LEVEL_FILE=${PGBACKREST_LOG_LEVEL_FILE:-off}
  export PGBACKREST_LOG_LEVEL_STDERR=${PGBACKREST_LOG_LEVEL_STDERR:-warn}
  export PGBACKREST_LOCK_PATH=${PGBACKREST_LOCK_PATH:-$dir/lock}
  export PGBACKREST_SPOOL_PATH=${PGBACKREST_SPOOL_PATH:-$dir/spool}
  export PGBACKREST_START_FAST=${PGBACKREST_START_FAST:-y}
  export PGBACKREST_COMPRESS_TYPE=${PGBACKREST_COMPRESS_TYPE:-zst}
  mkdir -p "$dir"
  {
    printf '[global]\n'
    # pg1-* belong to the stanza's section; the rest is global. STANZA and CONFIG are not file options.
    while IFS= read -r name; do
      [[ $name == PGBACKREST_STANZA || $name == PGBACKREST_CONFIG || $name == PGBACKREST_PG1_* ]] && continue
      key=${name#PGBACKREST_}
      key=${key,,}
      value=${!name}
      [[ $value != *$'\n'* ]] || { printf 'pgbackrest: %s holds a new line\n' "$name" >&2; return 2; }
      printf '%s=%s\n' "${key//_/-}" "$value"
    done < <(compgen -e | grep '^PGBACKREST_' | sort)
    printf '\n[%s]\n' "$PGBACKREST_STANZA"
    while IFS= read -r name; do
      key=${name#PGBACKREST_}
      key=${key,,}
      printf '%s=%s\n' "${key//_/-}" "${!name}"
    done < <(compgen -e | grep '^PGBACKREST_PG1_' | sort)
  } >"$config.new"
  chmod 600 "$config.new"
  mv "$config.new" "$config"
}

# pgbackrest_run ARGS...: pgBackRest with this file and stanza.
pgbackrest_run() {
  pgbackrest --config="$(pgbackrest_config)" --stanza="$PGBACKREST_STANZA" "$@"
}
