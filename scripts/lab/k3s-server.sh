#!/usr/bin/env bash
# The master VM: the K3s server, bound to the private network. Without --node-ip and --flannel-iface
# K3s picks the NAT interface (10.0.2.15, the same on every VirtualBox VM), and pods on different nodes
# cannot reach each other. Shares the node token and a kubeconfig for the host through /vagrant/.lab.
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh

iface=$(lab_iface_of "$LAB_NODE_IP")
# traefik and servicelb are left out: the lab uses NodePorts, and they would take memory from 2 GiB.
lab_k3s_install server --node-ip "$LAB_NODE_IP" --advertise-address "$LAB_NODE_IP" \
  --flannel-iface "$iface" --tls-san "$LAB_NODE_IP" --write-kubeconfig-mode 0600 \
  --disable traefik --disable servicelb
mp_wait_for 300 "node $(hostname) Ready" k3s kubectl wait --for=condition=Ready "node/$(hostname)" --timeout=5s ||
  mp_die "K3s server not Ready: journalctl -u k3s"

# Plain writes: the shared folder (vboxsf) does not keep modes; the host's orchestrator.sh makes these
# two files private on its side.
cat /var/lib/rancher/k3s/server/node-token >"$lab_share/node-token"
# The host reaches the API server on the private address, not on the VM's loopback.
sed "s#https://127.0.0.1:6443#https://$LAB_NODE_IP:6443#" /etc/rancher/k3s/k3s.yaml >"$lab_share/kubeconfig.tmp"
mv "$lab_share/kubeconfig.tmp" "$lab_share/kubeconfig"
mp_log "K3s server ready at https://$LAB_NODE_IP:6443 (flannel on $iface); kubeconfig in .lab/kubeconfig"
