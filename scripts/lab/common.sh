# shellcheck shell=bash
# What the lab's provisioning scripts share. They run as root inside a VM (Vagrantfile), with the
# repository at /vagrant and the LAB_* settings of the Vagrantfile in their environment.
set -euo pipefail
# shellcheck source=scripts/lib/common.sh
source /vagrant/scripts/lib/common.sh

# Files the VMs hand each other and the host: node token, image archives, kubeconfig (not committed).
# shellcheck disable=SC2034 # used by the scripts that source this file
lab_share=/vagrant/.lab

# lab_iface_of IP: the network interface holding IP (the private network; its name differs per box).
lab_iface_of() {
  local iface
  iface=$(ip -o -4 addr show | awk -v ip="$1" '{ split($4, a, "/") } a[1] == ip { print $2; exit }')
  [[ -n $iface ]] || mp_die "no interface holds $1: is the private network up? (ip -4 addr)"
  echo "$iface"
}

lab_apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Nothing to fetch, no network needed: the libvirt box (scripts/lab/build-box) has every package already.
  ((${#missing[@]})) || return 0
  mp_log "apt-get update; apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# lab_k3s_install ROLE ARGS...: K3s $K3S_VERSION through its official install script (K3S_URL and
# K3S_TOKEN in the environment for an agent); again only when the version or the arguments changed.
lab_k3s_install() {
  local role=$1 unit=k3s stamp=/var/lib/movie-platform-lab/k3s-install wanted
  shift
  [[ $role == agent ]] && unit=k3s-agent
  # A new master has a new token: the agent must join again (a digest of it, never the token itself).
  wanted="$K3S_VERSION $role $* ${K3S_URL:-} $(printf '%s' "${K3S_TOKEN:-}" | sha256sum | cut -c1-16)"
  if systemctl is-active --quiet "$unit" && [[ -f $stamp && $(<"$stamp") == "$wanted" ]]; then
    mp_log "K3s $K3S_VERSION ($role) already runs with these settings"
    return 0
  fi
  mp_log "installing K3s $K3S_VERSION ($role): $*"
  curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=$K3S_VERSION sh -s - "$role" "$@"
  mkdir -p "${stamp%/*}"
  echo "$wanted" >"$stamp"
}

# lab_build_swap: 2 GiB of swap until the calling script exits, when the VM has none: the compiler
# needs more than what a 2 GiB VM leaves next to K3s or the databases.
lab_build_swap() {
  local swap=/var/lib/movie-platform-lab/build.swap
  [[ -z $(swapon --noheadings) ]] || return 0
  mp_log "adding 2 GiB of swap for the build"
  mkdir -p "${swap%/*}"
  fallocate -l 2G "$swap"
  chmod 600 "$swap"
  mkswap --quiet "$swap"
  swapon "$swap"
  # shellcheck disable=SC2064 # the path is fixed now
  trap "swapoff '$swap' && rm -f '$swap'" EXIT
}

# Credentials for the classic layout: /vagrant/.env (scripts/orchestrator.sh create makes it).
lab_load_env() {
  [[ -f /vagrant/.env ]] || mp_die "/vagrant/.env is missing: run scripts/orchestrator.sh create (or scripts/stack up) on the host first"
  set -a
  # shellcheck disable=SC1091
  source /vagrant/.env
  set +a
  local key
  for key in INVENTORY_DB_PASSWORD BILLING_DB_PASSWORD RABBITMQ_USER RABBITMQ_PASSWORD; do
    [[ -n ${!key:-} ]] || mp_die "$key is missing from .env"
  done
}

# --- the classic layout: programs built in the VM and run as systemd units -------------------------

# lab_build_program PROGRAM: installs PROGRAM as /usr/local/bin/PROGRAM: the one built on the host when
# /vagrant/.lab/bin has it (Debian 12's release build: cmake --preset release, then copied there), or
# else built here from /vagrant (the same Debian packages as the Dockerfile's builder stage).
lab_build_program() {
  local program=$1 build=/var/cache/movie-platform/build
  if [[ -f $lab_share/bin/$program ]]; then
    mp_log "installing $program built on the host ($lab_share/bin/$program)"
    install -m 755 "$lab_share/bin/$program" "/usr/local/bin/$program"
    return 0
  fi
  lab_apt_install g++ make cmake pkg-config libpistache-dev libpq-dev nlohmann-json3-dev prometheus-cpp-dev \
    librabbitmq-dev libyaml-cpp-dev libcurl4-openssl-dev libssl-dev libgtest-dev libgmock-dev
  lab_build_swap
  mp_log "building $program (cmake, Release)"
  cmake -S /vagrant -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)" --target "$program" >/dev/null
  install -m 755 "$build/bin/$program" "/usr/local/bin/$program"
}

# lab_run_program PROGRAM PORT NAME=VALUE...: the systemd unit PROGRAM (an auditor stops it with
# `sudo systemctl stop PROGRAM`), its settings in /etc/movie-platform/PROGRAM.env (credentials: root and
# the service user only); started or restarted, then waited for until /readyz answers on PORT.
lab_run_program() {
  local program=$1 port=$2 setting
  shift 2
  id movie-platform >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin movie-platform
  install -d -m 755 /etc/movie-platform
  (
    umask 027
    for setting in "$@"; do printf '%s\n' "$setting"; done >"/etc/movie-platform/$program.env"
  )
  chgrp movie-platform "/etc/movie-platform/$program.env"
  cat >"/etc/systemd/system/$program.service" <<UNIT
[Unit]
Description=movie-platform $program
After=network-online.target postgresql.service rabbitmq-server.service
Wants=network-online.target

[Service]
User=movie-platform
Group=movie-platform
EnvironmentFile=/etc/movie-platform/$program.env
ExecStart=/usr/local/bin/$program
# SIGTERM drains in-flight work, then the program exits 0 (a stop is not a failure).
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=2
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --quiet "$program"
  systemctl restart "$program"
  mp_wait_for 120 "$program ready on :$port" curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/readyz" ||
    mp_die "$program is not ready: journalctl -u $program"
  mp_log "$program runs (systemctl status $program), ready on $LAB_NODE_IP:$port"
}

# lab_database ROLE PASSWORD DATABASE: the local PostgreSQL 15 (Debian's, on 127.0.0.1) with the
# service's role and database (docs/contract.md: the provisioner creates the database, the service its tables).
lab_database() {
  lab_apt_install postgresql
  systemctl enable --quiet --now postgresql
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1) <<SQL
SELECT 'CREATE ROLE $1 LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$1')\gexec
ALTER ROLE $1 PASSWORD '$2';
SELECT 'CREATE DATABASE $3 OWNER $1' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$3')\gexec
SQL
  mp_log "PostgreSQL: database $3 owned by role $1"
}
