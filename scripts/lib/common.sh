# shellcheck shell=bash
# Shared shell helpers for scripts/: logging, free ports, waiting. Source it; it defines functions only.
# The tree's errexit rule (programs `set -euo pipefail`, tests without -e) and its reason: tests/lib/check.sh.

mp_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mp_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Prints a TCP port on 127.0.0.1 that nothing uses (random, so parallel runs rarely collide). It is taken
# below the kernel's ephemeral range: a port in that range can become some outgoing connection's local port
# between the pick and the bind (seen as "address already in use" from PostgreSQL and RabbitMQ).
mp_free_port() {
  local port low=60000 _high
  read -r low _high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((low > 21000)) || low=60000
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % (low - 20000)))
    if ! ss -Htan "sport = :$port" | grep -q .; then
      echo "$port"
      return 0
    fi
  done
  mp_die "no free port found"
}

# mp_stack_env STATE_DIR [ENV_FILE]: points scripts/stack at a throw-away state dir (MP_STACK_DIR; its
# .env is ENV_FILE, by default STATE_DIR/.env), with every port the stack opens taken free on 127.0.0.1;
# all exported, for the stack and for the test that reads them.
mp_stack_env() {
  export MP_STACK_DIR=$1 MP_ENV_FILE=${2:-$1/.env}
  local variable
  for variable in POSTGRES_PORT RABBITMQ_PORT PROMETHEUS_PORT INVENTORY_APP_PORT BILLING_APP_PORT API_GATEWAY_PORT; do
    printf -v "$variable" '%s' "$(mp_free_port)"
    export "${variable?}"
  done
}

# mp_running PID: whether the process runs. `kill -0` alone also says yes for a zombie, which a SIGKILLed
# service whose parent is gone stays where PID 1 does not reap orphans (so it is in some containers).
mp_running() {
  local state=""
  kill -0 "$1" 2>/dev/null || return 1
  read -r _ _ state _ <"/proc/$1/stat" 2>/dev/null || return 1
  [[ $state != Z ]]
}

# mp_wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.2 s until it succeeds or time runs out.
mp_wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      mp_log "timed out after ${seconds}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# mp_shell_files: every shell file of the work tree (the files git tracks, and those it does not ignore),
# one a line: a name ending in .sh, or a first line that runs sh or bash.
mp_shell_files() {
  local file line
  while IFS= read -r -d '' file; do
    [[ -f $file && ! -L $file ]] || continue
    line=
    [[ $file == *.sh ]] || IFS= read -r line <"$file" || true
    if [[ $file == *.sh || $line =~ ^#!.*[/\ ](ba)?sh([[:space:]]|$) ]]; then echo "$file"; fi
  done < <(git ls-files -z --cached --others --exclude-standard)
}
