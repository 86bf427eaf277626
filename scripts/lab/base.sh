#!/usr/bin/env bash
# Every lab VM first: packages the other steps use, the clock kept in sync (K3s certificates and
# tokens are refused on a skewed clock), and the private address checked.
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh

lab_apt_install curl ca-certificates iproute2 systemd-timesyncd
# The VM's name (K3s names its node after it), where Vagrant did not set it (an emulated libvirt VM:
# Vagrant's way takes some ten ssh round trips there).
if [[ $(hostname) != "$LAB_NODE_NAME" ]]; then
  echo "$LAB_NODE_NAME" >/etc/hostname
  hostname "$LAB_NODE_NAME"
  sed -i "/^127\.0\.1\.1[[:space:]]/d" /etc/hosts
  printf '127.0.1.1\t%s\n' "$LAB_NODE_NAME" >>/etc/hosts
fi
# What `timedatectl set-ntp true` does, without D-Bus (a minimal box such as build-box's has none, and
# timedatectl failed there: "Failed to connect to bus").
systemctl enable --quiet --now systemd-timesyncd ||
  mp_log "systemd-timesyncd did not start; the clock relies on the guest additions (VirtualBox) or the host (libvirt)"
iface=$(lab_iface_of "$LAB_NODE_IP")
mkdir -p "$lab_share"
mp_log "base: $(hostname) has $LAB_NODE_IP on $iface; clock $(date -u +%FT%TZ)"
