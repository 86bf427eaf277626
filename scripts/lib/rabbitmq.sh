# shellcheck shell=bash
# Private RabbitMQ 3.10 instances on 127.0.0.1 for tests and the local stack. Source after common.sh.
# Each instance lives in one directory: its own node name, AMQP/dist/epmd ports, Erlang cookie, data and
# logs, so it never touches a system-wide broker, another run, or another run's epmd.
# Started as root the server must run as `rabbitmq` (it drops to it anyway), so the directory belongs to it.

MP_RABBIT_BIN=${MP_RABBIT_BIN:-/usr/lib/rabbitmq/bin}


# rmq_env DIR CMD...: runs CMD as the broker's user with the instance's environment (DIR/instance.env).
rmq_env() {
  local dir=$1
  shift
  # shellcheck disable=SC1091
  source "$dir/instance.env"
  # HOME holds the private .erlang.cookie; ERL_EPMD_PORT keeps epmd private to this instance.
  local argv=(env HOME="$dir/home" ERL_EPMD_PORT="$RMQ_EPMD_PORT"
    RABBITMQ_NODENAME="$RMQ_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$RMQ_PORT"
    RABBITMQ_DIST_PORT="$RMQ_DIST_PORT" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_MNESIA_BASE="$dir/mnesia"
    RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/rabbitmq.pid" RABBITMQ_LOGS="$dir/log/rabbit.log"
    "$@")
  if [[ $(id -u) -eq 0 ]]; then
    argv=(runuser -u rabbitmq -- "${argv[@]}")
  fi
  # MP_RMQ_EXEC=1: replace the calling (sub)shell, so that no bash process lingers holding its fds.
  if [[ ${MP_RMQ_EXEC:-0} == 1 ]]; then
    exec "${argv[@]}"
  fi
  "${argv[@]}"
}

# rmq_ctl DIR ARGS...: rabbitmqctl against the instance.
rmq_ctl() {
  local dir=$1
  shift
  rmq_env "$dir" "$MP_RABBIT_BIN/rabbitmqctl" -n "$(rmq_node "$dir")" "$@"
}

# shellcheck disable=SC1091
rmq_node() { (source "$1/instance.env" && echo "$RMQ_NODE"); }
# shellcheck disable=SC1091
rmq_port() { (source "$1/instance.env" && echo "$RMQ_PORT"); }

# rmq_init DIR PORT: lays out an instance in DIR listening for AMQP on 127.0.0.1:PORT (free ports picked
# for distribution and epmd). The node name embeds the shell's pid so parallel runs never share a node.
rmq_init() {
  local dir=$1 port=$2
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
  local dist_port epmd_port
  dist_port=$(mp_free_port)
  epmd_port=$(mp_free_port)
  cat >"$dir/instance.env" <<EOF
RMQ_NODE=mptest-$$-$RANDOM@localhost
RMQ_PORT=$port
RMQ_DIST_PORT=$dist_port
RMQ_EPMD_PORT=$epmd_port
EOF
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$port
loopback_users = none
log.console = false
log.file.level = info
EOF
  # Empty plugin list: the management plugin is not needed and starting without plugins is faster.
  echo '[].' >"$dir/enabled_plugins"
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/home/.erlang.cookie"
  chmod 400 "$dir/home/.erlang.cookie"
  chmod 755 "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R rabbitmq:rabbitmq "$dir"
  fi
}

# rmq_cluster_init DIR PORT EPMD_PORT: rmq_init for one node of a cluster on this host: the nodes share
# one epmd (EPMD_PORT), through which they find each other.
rmq_cluster_init() {
  local dir=$1 port=$2 epmd_port=$3
  rmq_init "$dir" "$port"
  sed -i "s/^RMQ_EPMD_PORT=.*/RMQ_EPMD_PORT=$epmd_port/" "$dir/instance.env"
}

# rmq_start DIR [PROGRAM ARGS...]: starts the instance in the background (PROGRAM: by default the
# server's own script; e.g. the image's entrypoint) and waits until it answers (about 8-10 s).
rmq_start() {
  local dir=$1
  shift
  (($#)) || set -- "$MP_RABBIT_BIN/rabbitmq-server"
  # setsid: the broker must not get the test run's terminal signals; it is stopped by rmq_stop.
  # The redirections are made permanent inside the background subshell (exec): redirecting a function
  # call would leave bash holding a saved copy of the caller's stdout, and a caller reading that through
  # a pipe would never see it end.
  (
    exec >>"$dir/log/console.log" 2>&1 </dev/null
    MP_RMQ_EXEC=1 rmq_env "$dir" setsid "$@"
  ) &
  # Remembered so that rmq_stop can end the whole tree even when the broker never came up.
  echo $! >"$dir/launcher.pid"
  if ! mp_wait_for 60 "RabbitMQ $(rmq_node "$dir")" rmq_ctl "$dir" await_startup; then
    tail -30 "$dir/log/console.log" >&2
    return 1
  fi
}

# rmq_add_user DIR USER PASSWORD: an administrator on vhost / (an explicit user rather than guest).
rmq_add_user() {
  local dir=$1 user=$2 password=$3
  rmq_ctl "$dir" add_user "$user" "$password" >/dev/null
  rmq_ctl "$dir" set_user_tags "$user" administrator >/dev/null
  rmq_ctl "$dir" set_permissions -p / "$user" '.*' '.*' '.*' >/dev/null
}

# rmq_stop DIR: stops the broker (data kept), then its private epmd. Safe to call when not running.
rmq_stop() {
  local dir=$1
  [[ -f $dir/instance.env ]] || return 0
  local pid=""
  [[ -f $dir/rabbitmq.pid ]] && pid=$(cat "$dir/rabbitmq.pid" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    rmq_ctl "$dir" shutdown >/dev/null 2>&1 || true
    # Bounded wait, then force: a stuck broker must not outlive the test run.
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rmq_kill_launcher "$dir"
  rm -f "$dir/rabbitmq.pid"
  rmq_kill_epmd "$dir"
}

# rmq_kill_launcher DIR: ends what is left of the process tree rmq_start created (runuser, shell, beam),
# even after a failed start that never wrote a pid file.
rmq_kill_launcher() {
  local dir=$1
  [[ -f $dir/launcher.pid ]] || return 0
  mp_kill_tree "$(cat "$dir/launcher.pid")"
  rm -f "$dir/launcher.pid"
}

# mp_kill_tree PID: SIGKILL to PID and all its descendants, children first listed before they can re-parent.
mp_kill_tree() {
  local pid=$1 child
  kill -STOP "$pid" 2>/dev/null || return 0
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
    mp_kill_tree "$child"
  done
  kill -9 "$pid" 2>/dev/null || true
}

# rmq_kill_epmd DIR: the instance's epmd listens on its own port, so it is ours to stop.
rmq_kill_epmd() {
  local dir=$1
  # shellcheck disable=SC1091
  source "$dir/instance.env"
  local pids
  pids=$(ss -Htlnp "sport = :$RMQ_EPMD_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
  local p
  for p in $pids; do
    if [[ $(cat "/proc/$p/comm" 2>/dev/null) == epmd ]]; then
      kill "$p" 2>/dev/null || true
    fi
  done
}
