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
# The server's and the CLI's own scripts, not Debian's /usr/sbin wrappers: those set HOME (the Erlang
# cookie's place) themselves and send the server's logs to files.
bin=/usr/lib/rabbitmq/bin

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
# Cluster mode (RABBITMQ_CLUSTER): the peer discovery, partition handling and shared Erlang cookie of a
# node in a cluster, written to a config file of this process's own beside the default user's.
#   k8s      rabbitmq_peer_discovery_k8s (the plugin must be in enabled_plugins), nodes named by host name:
#            RABBITMQ_K8S_SERVICE_NAME (the headless Service), RABBITMQ_K8S_HOSTNAME_SUFFIX
#            (.<service>.<namespace>.svc.cluster.local); RABBITMQ_NODENAME and RABBITMQ_USE_LONGNAME=true
#            must name the node the same way.
#   classic  a fixed list of node names, RABBITMQ_CLUSTER_NODES (space-separated), e.g. on one host.
# RABBITMQ_ERLANG_COOKIE_FILE (a mounted Secret) is copied to $HOME/.erlang.cookie, owner-only: every node
# of a cluster needs the same cookie, and RabbitMQ refuses a cookie file others can read.
cluster_conf() {
  printf '%s
' "cluster_partition_handling = pause_minority"     "cluster_formation.discovery_retry_limit = ${RABBITMQ_DISCOVERY_RETRY_LIMIT:-60}"     "cluster_formation.discovery_retry_interval = ${RABBITMQ_DISCOVERY_RETRY_INTERVAL_MS:-2000}"     "cluster_formation.node_cleanup.only_log_warning = true"
  case $RABBITMQ_CLUSTER in
    k8s)
      [[ -n ${RABBITMQ_K8S_SERVICE_NAME:-} && -n ${RABBITMQ_K8S_HOSTNAME_SUFFIX:-} ]] ||
        die "RABBITMQ_CLUSTER=k8s needs RABBITMQ_K8S_SERVICE_NAME and RABBITMQ_K8S_HOSTNAME_SUFFIX"
      [[ ${RABBITMQ_NODENAME:-} == *"$RABBITMQ_K8S_HOSTNAME_SUFFIX" && ${RABBITMQ_USE_LONGNAME:-} == true ]] ||
        die "RABBITMQ_CLUSTER=k8s needs RABBITMQ_USE_LONGNAME=true and RABBITMQ_NODENAME=rabbit@<pod>$RABBITMQ_K8S_HOSTNAME_SUFFIX"
      printf '%s
' "cluster_formation.peer_discovery_backend = rabbit_peer_discovery_k8s"         "cluster_formation.k8s.host = ${RABBITMQ_K8S_HOST:-kubernetes.default.svc}"         "cluster_formation.k8s.address_type = hostname"         "cluster_formation.k8s.service_name = $RABBITMQ_K8S_SERVICE_NAME"         "cluster_formation.k8s.hostname_suffix = $RABBITMQ_K8S_HOSTNAME_SUFFIX"
      ;;
    classic)
      [[ -n ${RABBITMQ_CLUSTER_NODES:-} ]] || die "RABBITMQ_CLUSTER=classic needs RABBITMQ_CLUSTER_NODES"
      echo "cluster_formation.peer_discovery_backend = classic_config"
      local i=0 node
      for node in $RABBITMQ_CLUSTER_NODES; do
        i=$((i + 1))
        echo "cluster_formation.classic_config.nodes.$i = $node"
      done
      ;;
    *) die "RABBITMQ_CLUSTER must be k8s or classic (or unset: one node), not '$RABBITMQ_CLUSTER'" ;;
  esac
}
if [[ -n ${RABBITMQ_CLUSTER:-} ]]; then
  [[ -r ${RABBITMQ_ERLANG_COOKIE_FILE:-} ]] ||
    die "RABBITMQ_CLUSTER needs RABBITMQ_ERLANG_COOKIE_FILE, a readable file with the cluster's shared cookie"
  cookie=$HOME/.erlang.cookie
  rm -f "$cookie"
  (umask 077 && tr -d '\n' <"$RABBITMQ_ERLANG_COOKIE_FILE" >"$cookie")
  chmod 400 "$cookie"
  [[ -n ${conf_dir:-} ]] || conf_dir=$(mktemp -d "${TMPDIR:-/tmp}/rabbitmq-conf.XXXXXX")
  cluster_conf >"$conf_dir/20-cluster.conf"
  export RABBITMQ_CONFIG_FILES=$conf_dir
fi
# RabbitMQ writes its upgrade log to a file whatever log.file says (<node>_upgrade.log in the log base): on
# a read-only root file system, as the chart runs it, /var/log/rabbitmq fails the start with
# {cannot_log_to_file, ".../rabbit@localhost_upgrade.log", erofs}. So the log base is under $TMPDIR
# unless /var/log/rabbitmq is writable.
if [[ -z ${RABBITMQ_LOG_BASE:-} && ! -w /var/log/rabbitmq ]]; then
  export RABBITMQ_LOG_BASE=${TMPDIR:-/tmp}/rabbitmq-log
  mkdir -p "$RABBITMQ_LOG_BASE"
fi
# A quorum queue's members are fixed when it is declared: one declared while this node was down or not
# yet in the cluster has no member here, and neither has any queue after this node came back wiped.
# So a cluster node adds itself to every quorum queue that lacks it, once it runs and a few times after
# (a queue may be declared meanwhile). RABBITMQ_QUORUM_GROW=off: never.
grow_quorum_queues() {
  local delay deadline=$((SECONDS + ${RABBITMQ_STARTUP_TIMEOUT:-600}))
  # await_startup fails at once while the node is not yet reachable at all.
  until "$bin/rabbitmqctl" -q await_startup --timeout 60 >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "rabbitmq-entrypoint: the node did not start; no quorum queue grown" >&2
      return 0
    fi
    sleep 2
  done
  for delay in 0 30 90 300; do
    sleep "$delay"
    "$bin/rabbitmq-queues" -q grow "$RABBITMQ_NODENAME" all --errors-only >&2 ||
      printf 'rabbitmq-entrypoint: rabbitmq-queues grow %s failed; trying again later\n' "$RABBITMQ_NODENAME" >&2
  done
}
if [[ -n ${RABBITMQ_CLUSTER:-} && ${RABBITMQ_QUORUM_GROW:-on} == on ]]; then
  grow_quorum_queues </dev/null &
fi
# The server's own script: Debian's wrapper sends the logs to files under /var/log/rabbitmq and does not
# pass SIGTERM on; this one logs to the console and stops cleanly.
shift
cd "$HOME"  # /var/lib/rabbitmq in the image: where the server writes what it writes to its working directory
exec "$bin/rabbitmq-server" "$@"
