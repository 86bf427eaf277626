#!/bin/bash
# Starts RabbitMQ with the default user from RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS. Those go into
# a config file of this process's own under $TMPDIR (the image's /etc/rabbitmq stays read-only, as the
# chart mounts it), read after /etc/rabbitmq/rabbitmq.conf. Any other command runs as given.
set -euo pipefail
(($# > 0)) || set -- rabbitmq-server

if [[ $1 != rabbitmq-server ]]; then
  exec "$@"
fi

die() { printf 'rabbitmq-entrypoint: %s\n' "$*" >&2; exit 2; }

if [[ -n ${RABBITMQ_DEFAULT_USER:-}${RABBITMQ_DEFAULT_PASS:-} ]]; then
  [[ -n ${RABBITMQ_DEFAULT_USER:-} && -n ${RABBITMQ_DEFAULT_PASS:-} ]] ||
    die "set both RABBITMQ_DEFAULT_USER and RABBITMQ_DEFAULT_PASS, or neither"
  # The config format has no quoting: a value runs to the end of its line.
  [[ $RABBITMQ_DEFAULT_USER$RABBITMQ_DEFAULT_PASS != *[[:space:]]* ]] ||
    die "RABBITMQ_DEFAULT_USER and RABBITMQ_DEFAULT_PASS must not contain white space"
  conf_dir=$(mktemp -d "${TMPDIR:-/tmp}/rabbitmq-conf.XXXXXX")
  umask 077
  printf 'default_user = %s\ndefault_pass = %s\n' "$RABBITMQ_DEFAULT_USER" "$RABBITMQ_DEFAULT_PASS" \
    >"$conf_dir/10-default-user.conf"
  export RABBITMQ_CONFIG_FILES=$conf_dir
  unset RABBITMQ_DEFAULT_PASS
fi
# RabbitMQ writes its upgrade log to a file whatever log.file says (<node>_upgrade.log in the log base): on
# a read-only root file system, as the chart runs it, /var/log/rabbitmq fails the start with
# {cannot_log_to_file, ".../rabbit@localhost_upgrade.log", erofs}. So the log base is under $TMPDIR
# unless /var/log/rabbitmq is writable.
if [[ -z ${RABBITMQ_LOG_BASE:-} && ! -w /var/log/rabbitmq ]]; then
  export RABBITMQ_LOG_BASE=${TMPDIR:-/tmp}/rabbitmq-log
  mkdir -p "$RABBITMQ_LOG_BASE"
fi
# The server's own script, not Debian's /usr/sbin wrapper: that one sends the logs to files under
# /var/log/rabbitmq and does not pass SIGTERM on; this one logs to the console and stops cleanly.
shift
cd /var/lib/rabbitmq
exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
