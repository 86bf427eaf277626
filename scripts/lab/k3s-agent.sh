#!/usr/bin/env bash
# The agent VM: a K3s agent joining the master with the token the master left in /vagrant/.lab, bound to
# the private network like the server (--node-ip, --flannel-iface).
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh

[[ -s $lab_share/node-token ]] || mp_die "no $lab_share/node-token: bring the master up first (vagrant up master)"
iface=$(lab_iface_of "$LAB_NODE_IP")
K3S_URL=https://$LAB_MASTER_IP:6443 K3S_TOKEN=$(<"$lab_share/node-token") \
  lab_k3s_install agent --node-ip "$LAB_NODE_IP" --flannel-iface "$iface"
# The same kubeconfig the host uses: it also proves the API server answers on the private network.
mp_wait_for 300 "node $(hostname) Ready" \
  k3s kubectl --kubeconfig "$lab_share/kubeconfig" wait --for=condition=Ready "node/$(hostname)" --timeout=5s ||
  mp_die "agent not Ready: journalctl -u k3s-agent; is https://$LAB_MASTER_IP:6443 reachable from $(hostname)?"
mp_log "agent $(hostname) joined https://$LAB_MASTER_IP:6443 (flannel on $iface)"
