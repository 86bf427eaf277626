#!/usr/bin/env bash
# One entry point over the Vagrant lab (docs/lab.md), for either layout:
#   scripts/orchestrator.sh create    vagrant up, then install the platform      -> "cluster created"
#   scripts/orchestrator.sh start     boot the stopped VMs                       -> "cluster started"
#   scripts/orchestrator.sh stop      shut the VMs down (keeps them and data)    -> "cluster stopped"
#   scripts/orchestrator.sh status    the VMs, then the nodes and pods or the services
#   scripts/orchestrator.sh destroy   delete the VMs and .lab/                   -> "cluster destroyed"
# LAB=classic selects the three-VM layout (gateway-vm, inventory-vm, billing-vm); the default is the
# two-node K3s cluster (master, agent). Sizes: the LAB_* variables at the top of the Vagrantfile.
# VirtualBox by default; VAGRANT_DEFAULT_PROVIDER=libvirt for libvirt (docs/lab.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib/common.sh
source scripts/lib/env.sh

export LAB=${LAB:-k3s}
case $LAB in
  k3s | classic) ;;
  *) mp_die "LAB must be k3s (the default) or classic, not '$LAB'" ;;
esac
command=${1:-}
[[ $# -le 1 ]] || mp_die "one command at a time (create, start, stop, status, destroy)"

# The provider is Vagrant's own choice (VAGRANT_DEFAULT_PROVIDER, else VirtualBox): only its tools are needed.
need_vagrant() {
  command -v vagrant >/dev/null || mp_die "vagrant is missing (docs/lab.md, prerequisites)"
  if [[ ${VAGRANT_DEFAULT_PROVIDER:-virtualbox} == libvirt ]]; then
    command -v virsh >/dev/null || mp_die "libvirt (virsh) is missing (docs/lab.md, the lab on libvirt)"
  else
    command -v VBoxManage >/dev/null || mp_die "VirtualBox (VBoxManage) is missing (docs/lab.md, prerequisites)"
  fi
}

# The services of the classic layout, per VM (what `status` asks systemd about).
classic_units=("inventory-vm:postgresql inventory-app" "billing-vm:postgresql rabbitmq-server billing-app"
  "gateway-vm:api-gateway")

case $command in
  create)
    need_vagrant
    # Credentials for the classic layout's services (the K3s layout keeps its own in Secrets).
    mp_ensure_env_file "$root/.env"
    mkdir -p .lab
    # One VM after the other, in the Vagrantfile's order (each classic program's dependencies first):
    # VirtualBox does so anyway, libvirt would start them all at once.
    vagrant up --no-parallel
    if [[ $LAB == k3s ]]; then
      chmod 600 .lab/node-token .lab/kubeconfig
      scripts/lab/install-platform.sh
      kubectl --kubeconfig .lab/kubeconfig get nodes -o wide
    fi
    echo "cluster created"
    ;;
  start)
    need_vagrant
    # Booting without provisioning is only right for VMs that exist: a new one would stay empty.
    if vagrant status --machine-readable | grep -q ',state,not_created$'; then
      mp_die "some VMs of the $LAB layout do not exist: scripts/orchestrator.sh create"
    fi
    vagrant up --no-parallel --no-provision
    echo "cluster started"
    ;;
  stop)
    need_vagrant
    vagrant halt
    echo "cluster stopped"
    ;;
  status)
    need_vagrant
    vagrant status
    if [[ $LAB == k3s ]]; then
      if [[ -f .lab/kubeconfig ]] && command -v kubectl >/dev/null; then
        kubectl --kubeconfig .lab/kubeconfig get nodes -o wide || true
        kubectl --kubeconfig .lab/kubeconfig -n "${LAB_NAMESPACE:-movies}" get pods -o wide || true
      fi
    else
      for entry in "${classic_units[@]}"; do
        read -r -a units <<<"${entry#*:}"
        vagrant ssh "${entry%%:*}" -c "systemctl is-active ${units[*]} | paste -sd' ' | sed 's/^/${entry%%:*}: ${units[*]}: /'" ||
          true
      done
    fi
    echo "cluster status: done"
    ;;
  destroy)
    need_vagrant
    vagrant destroy -f
    # The node token, kubeconfig and image archives belong to the VMs that are gone; .env is kept.
    rm -rf .lab
    echo "cluster destroyed"
    ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
