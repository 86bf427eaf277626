# shellcheck shell=bash
# Shared shell helpers for scripts/: logging, free ports, waiting. Source it; it defines functions only.

mp_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mp_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Prints a TCP port on 127.0.0.1 that nothing listens on (random, so parallel runs rarely collide).
mp_free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$port" | grep -q .; then
      echo "$port"
      return 0
    fi
  done
  mp_die "no free port found"
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
